// Provenance attributes of result files, and the hash that identifies a model file.
#include <stackdyn/core/provenance.hpp>

#include <stackdyn/core/error.hpp>
#include "stackdyn/version.hpp"

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>

namespace stackdyn {

std::string default_producer() { return std::string("stackdyn ") + version; }

namespace {
// Now, or SOURCE_DATE_EPOCH (reproducible-builds.org) when set, as 2024-05-01T12:00:00Z.
std::string utc_now() {
  std::time_t t = std::time(nullptr);
  if (const char* e = std::getenv("SOURCE_DATE_EPOCH"); e && *e) t = static_cast<std::time_t>(std::strtoll(e, nullptr, 10));
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::array<char, 32> buf{};
  std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf.data();
}
}  // namespace

void write_provenance(h5::Group& root, const Provenance& p) {
  root.set_attr("producer", p.producer);
  root.set_attr("producer_version", std::string(version));
  root.set_attr("command_line", p.command_line);
  root.set_attr("config", p.config_toml);
  root.set_attr("seed", p.seed);
  root.set_attr("source", p.source);
  root.set_attr("model_path", p.model_path);
  root.set_attr("model_hash", p.model_hash);
  root.set_attr("created", utc_now());
}

Provenance read_provenance(const h5::Group& root) {
  Provenance p;
  auto text = [&](const char* name) { return root.has_attr(name) ? root.attr_string(name) : std::string(); };
  p.producer = text("producer");
  p.command_line = text("command_line");
  p.config_toml = text("config");
  if (root.has_attr("seed")) p.seed = root.attr_int("seed");
  p.source = text("source");
  p.model_path = text("model_path");
  p.model_hash = text("model_hash");
  return p;
}

std::string file_hash(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    throw InputError("cannot read '" + path + "': " + (std::filesystem::exists(path, ec) ? "permission denied" : "no such file"));
  }
  // FNV-1a, 64 bit: a fingerprint to tell model files apart, not a cryptographic hash.
  std::uint64_t h = 14695981039346656037ull;
  std::array<char, 1 << 16> buf;
  while (in.read(buf.data(), buf.size()) || in.gcount() > 0) {
    for (std::streamsize k = 0; k < in.gcount(); ++k) {
      h ^= static_cast<unsigned char>(buf[static_cast<std::size_t>(k)]);
      h *= 1099511628211ull;
    }
  }
  if (in.bad()) throw RunError("cannot read '" + path + "': read error");
  std::array<char, 24> hex{};
  std::snprintf(hex.data(), hex.size(), "%016llx", static_cast<unsigned long long>(h));
  return std::string("fnv1a64:") + hex.data();
}

}  // namespace stackdyn

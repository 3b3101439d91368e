// The HDF5 wrapper: every call into the HDF5 C API of the project is in this file, each
// under one global recursive mutex, each failure turned into an InputError or RunError.
#include <stackdyn/core/h5.hpp>

#include <stackdyn/core/error.hpp>

#include <hdf5.h>
#include <hdf5_hl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <mutex>

namespace stackdyn::h5 {
namespace {

namespace fs = std::filesystem;

// The HDF5 library is not safe to call from several threads in every build, and its
// high-level H5DS calls never are: one lock for all of it. The first call on each thread
// also turns off HDF5's printing of errors to stderr (the error stack is per thread),
// since every failure becomes an exception with its own one-line message.
std::recursive_mutex& library_mutex() {
  static std::recursive_mutex m;
  return m;
}
struct Lock {
  std::lock_guard<std::recursive_mutex> guard{library_mutex()};
  Lock() {
    thread_local bool silenced = false;
    if (!silenced) H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    silenced = true;
  }
};

// The most specific message on HDF5's error stack, to add to a failure's own message.
std::string hdf5_detail() {
  std::string out;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned n, const H5E_error2_t* e, void* data) -> herr_t {
        if (n == 0 && e->desc) *static_cast<std::string*>(data) = e->desc;
        return 0;
      },
      &out);
  H5Eclear2(H5E_DEFAULT);
  return out.empty() ? "HDF5 error" : out;
}

template <class E, class T>
T check(T v, const std::string& what) {
  if (v < 0) throw E(what + " (" + hdf5_detail() + ")");
  return v;
}
// Read-side failures are bad input (a broken file); write-side failures are run failures.
template <class T>
T in(T v, const std::string& what) { return check<InputError>(v, what); }
template <class T>
T out(T v, const std::string& what) { return check<RunError>(v, what); }

std::string in_quotes(const std::string& s) { return "'" + s + "'"; }

// The one place where the HDF5 layer multiplies extents: the element count of `s`, false when
// it overflows 64 bits (HDF5's own count wraps around silently).
bool checked_count(const Shape& s, std::size_t& count) {
  count = 1;
  for (auto d : s)
    if (__builtin_mul_overflow(count, d, &count)) return false;
  return true;
}

// The element count of a shape being read, checked: what is read whole must fit in memory,
// and a damaged or crafted file can declare any extent (a chunked dataset with no chunks
// written holds nothing on disk and reads as fill values; a shape whose count overflows 64
// bits). Either is an InputError naming `what`.
std::size_t readable_count(const Shape& s, std::size_t element_size, const std::string& what) {
  static const unsigned long long memory =
      static_cast<unsigned long long>(::sysconf(_SC_PHYS_PAGES)) * static_cast<unsigned long long>(::sysconf(_SC_PAGE_SIZE));
  std::size_t count = 0;
  if (!checked_count(s, count))
    throw InputError(what + ": its shape " + shape_string(s) + " declares more than 2^64 elements (a damaged file)");
  if (element_size > 0 && count > memory / element_size)
    throw InputError(what + ": " + std::to_string(count) + " elements of " + std::to_string(element_size) +
                     " bytes do not fit in this machine's memory (" + std::to_string(memory >> 20) + " MiB)");
  return count;
}

const char* class_name(H5T_class_t c) {
  switch (c) {
    case H5T_INTEGER: return "integer";
    case H5T_FLOAT: return "float";
    case H5T_STRING: return "string";
    case H5T_COMPOUND: return "compound";
    case H5T_ENUM: return "enum";
    case H5T_ARRAY: return "array";
    case H5T_VLEN: return "variable-length sequence";
    case H5T_BITFIELD: return "bitfield";
    case H5T_OPAQUE: return "opaque";
    case H5T_REFERENCE: return "reference";
    default: return "unknown type";
  }
}

std::vector<hsize_t> to_hsize(const Shape& s) { return {s.begin(), s.end()}; }

Handle make_space(const Shape& s) {
  if (s.empty()) return Handle(out(H5Screate(H5S_SCALAR), "cannot create a dataspace"));
  auto d = to_hsize(s);
  return Handle(out(H5Screate_simple(static_cast<int>(d.size()), d.data(), nullptr),
                    "cannot create a dataspace of shape " + shape_string(s)));
}

// Shape of a dataspace being read (space_class tells a null dataspace from a scalar). A failed
// query (a damaged file) is an InputError naming `what`, never a negative count turned into
// a huge size.
Shape space_shape(hid_t space, const std::string& what) {
  const int rank = in(H5Sget_simple_extent_ndims(space), what);
  std::vector<hsize_t> d(static_cast<std::size_t>(rank));
  if (rank > 0) in(H5Sget_simple_extent_dims(space, d.data(), nullptr), what);
  return {d.begin(), d.end()};
}

// The class of a datatype being read (H5T_NO_CLASS, negative, on failure).
H5T_class_t type_class(hid_t type, const std::string& what) {
  const H5T_class_t c = H5Tget_class(type);
  if (c == H5T_NO_CLASS) throw InputError(what + " (" + hdf5_detail() + ")");
  return c;
}

// The kind of a dataspace being read (H5S_NO_CLASS, negative, on failure).
H5S_class_t space_class(hid_t space, const std::string& what) {
  const H5S_class_t c = H5Sget_simple_extent_type(space);
  if (c == H5S_NO_CLASS) throw InputError(what + " (" + hdf5_detail() + ")");
  return c;
}

// Object creation properties: no modification times, so that the same run writes the same
// bytes (docs/design.md section 6).
Handle untimed(hid_t cls) {
  Handle p(out(H5Pcreate(cls), "cannot create a property list"));
  out(H5Pset_obj_track_times(p.id(), 0), "cannot set a property list");
  return p;
}
Handle make_parents() {
  Handle p(out(H5Pcreate(H5P_LINK_CREATE), "cannot create a property list"));
  out(H5Pset_create_intermediate_group(p.id(), 1), "cannot set a property list");
  return p;
}
Handle file_access(bool close_strong) {
  Handle p(out(H5Pcreate(H5P_FILE_ACCESS), "cannot create a property list"));
  // Keep HDF5's file locking, but do not fail on file systems that lack it (NFS, ...).
  out(H5Pset_file_locking(p.id(), 1, 1), "cannot set a property list");
  if (close_strong) out(H5Pset_fclose_degree(p.id(), H5F_CLOSE_STRONG), "cannot set a property list");
  return p;
}

// H5Lexists fails instead of answering when an intermediate link is missing, so walk the
// path one link at a time; the last one must also resolve (no dangling soft link).
bool exists(hid_t loc, const std::string& name) {
  std::string prefix = name.starts_with('/') ? "/" : "";
  std::size_t pos = 0;
  while (pos <= name.size()) {
    std::size_t next = std::min(name.find('/', pos), name.size());
    std::string part = name.substr(pos, next - pos);
    pos = next + 1;
    if (part.empty() || part == ".") continue;
    if (!prefix.empty() && prefix.back() != '/') prefix += '/';
    prefix += part;
    if (H5Lexists(loc, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
  }
  bool ok = H5Oexists_by_name(loc, prefix.empty() ? "." : prefix.c_str(), H5P_DEFAULT) > 0;
  H5Eclear2(H5E_DEFAULT);
  return ok;
}

std::string rank_message(const std::string& file, const std::string& path, std::size_t rank,
                                  const Shape& got) {
  return file + ": dataset " + in_quotes(path) + ": expected rank " + std::to_string(rank) + ", got shape " +
         shape_string(got);
}

Shape default_chunk(Shape s, std::size_t target = 65536) {
  for (auto& d : s) d = std::max<std::size_t>(d, 1);
  while (element_count(s) > target) {
    auto big = std::max_element(s.begin(), s.end());
    if (*big == 1) break;
    *big = (*big + 1) / 2;
  }
  return s;
}

// A compound {r, i} of two `member` floats: what h5py reads and writes as complex.
Handle complex_type(hid_t member) {
  Handle t(out(H5Tcreate(H5T_COMPOUND, 2 * sizeof(double)), "cannot create the complex type"));
  out(H5Tinsert(t.id(), "r", 0, member), "cannot create the complex type");
  out(H5Tinsert(t.id(), "i", sizeof(double), member), "cannot create the complex type");
  return t;
}

}  // namespace

std::string shape_string(const Shape& s) {
  std::string r = "(";
  for (std::size_t k = 0; k < s.size(); ++k) r += (k ? ", " : "") + std::to_string(s[k]);
  return r + (s.size() == 1 ? ",)" : ")");
}

std::size_t element_count(const Shape& s) {
  std::size_t n = 0;
  if (!checked_count(s, n)) throw RunError("the shape " + shape_string(s) + " has more than 2^64 elements");
  return n;
}

// --- Handle ----------------------------------------------------------------------------

Handle::Handle(const Handle& o) : id_(o.id_) {
  if (valid()) {
    Lock l;
    H5Iinc_ref(id_);
  }
}

Handle::~Handle() { reset(); }

void Handle::reset() {
  if (!valid()) return;
  Lock l;
  // H5Idec_ref closes any kind of identifier when its count reaches zero. It fails only for
  // identifiers a strongly closed file has already closed; there is nothing left to do then.
  if (H5Idec_ref(id_) < 0) H5Eclear2(H5E_DEFAULT);
  id_ = -1;
}

// --- Group: objects ----------------------------------------------------------------------

std::string Group::full(const std::string& name) const {
  std::string p = name.starts_with('/') ? name : (path_ == "/" ? "/" : path_ + "/") + name;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

bool Group::has(const std::string& name) const {
  Lock l;
  return exists(id_.id(), name);
}

bool Group::has_attr(const std::string& name) const {
  Lock l;
  return H5Aexists(id_.id(), name.c_str()) > 0;
}

namespace {
// Opens a dataset or group by name, with the error a reader should see when it is missing
// or of the other kind.
Handle open_object(hid_t loc, const std::string& file, const std::string& name, const std::string& path,
                   H5I_type_t want) {
  const char* kind = want == H5I_GROUP ? "group" : "dataset";
  if (!exists(loc, name)) throw InputError(file + ": " + kind + " " + in_quotes(path) + " not found");
  Handle h(in(H5Oopen(loc, name.c_str(), H5P_DEFAULT), file + ": cannot open " + in_quotes(path)));
  if (H5Iget_type(h.id()) != want)
    throw InputError(file + ": " + in_quotes(path) + " is not a " + kind);
  return h;
}
}  // namespace

Group Group::group(const std::string& name) const {
  Lock l;
  return Group(open_object(id_.id(), file_, name, full(name), H5I_GROUP), file_, full(name));
}

Group Group::create_group(const std::string& name) {
  Lock l;
  if (exists(id_.id(), name)) throw RunError(file_ + ": cannot create group " + in_quotes(full(name)) + ": it exists");
  Handle gcpl = untimed(H5P_GROUP_CREATE);
  Handle g(out(H5Gcreate2(id_.id(), name.c_str(), make_parents().id(), gcpl.id(), H5P_DEFAULT),
               file_ + ": cannot create group " + in_quotes(full(name))));
  return Group(std::move(g), file_, full(name));
}

void Group::remove(const std::string& name) {
  Lock l;
  if (!exists(id_.id(), name)) throw RunError(file_ + ": cannot remove " + in_quotes(full(name)) + ": not found");
  out(H5Ldelete(id_.id(), name.c_str(), H5P_DEFAULT), file_ + ": cannot remove " + in_quotes(full(name)));
}

std::vector<std::string> Group::children() const {
  Lock l;
  H5G_info_t info;
  in(H5Gget_info(id_.id(), &info), file_ + ": cannot list " + in_quotes(path_));
  std::vector<std::string> names;
  for (hsize_t k = 0; k < info.nlinks; ++k) {
    ssize_t n = in(H5Lget_name_by_idx(id_.id(), ".", H5_INDEX_NAME, H5_ITER_INC, k, nullptr, 0, H5P_DEFAULT),
                   file_ + ": cannot list " + in_quotes(path_));
    std::string s(static_cast<std::size_t>(n) + 1, '\0');
    in(H5Lget_name_by_idx(id_.id(), ".", H5_INDEX_NAME, H5_ITER_INC, k, s.data(), s.size(), H5P_DEFAULT),
       file_ + ": cannot list " + in_quotes(path_));
    s.resize(static_cast<std::size_t>(n));
    names.push_back(std::move(s));
  }
  return names;
}

// --- Group: reading datasets ---------------------------------------------------------------

namespace {
struct OpenDataset {
  Handle dset, type;
  H5T_class_t cls;
  Shape shape;
  std::size_t count;
};

OpenDataset open_dataset(hid_t loc, const std::string& file, const std::string& name, const std::string& path) {
  OpenDataset d;
  const std::string what = file + ": cannot read " + in_quotes(path);
  d.dset = open_object(loc, file, name, path, H5I_DATASET);
  d.type = Handle(in(H5Dget_type(d.dset.id()), what));
  d.cls = type_class(d.type.id(), what);
  Handle space(in(H5Dget_space(d.dset.id()), what));
  d.shape = space_shape(space.id(), what);
  if (space_class(space.id(), what) == H5S_NULL)
    throw InputError(file + ": dataset " + in_quotes(path) + " holds no data (null dataspace)");
  // from the shape, overflow-checked (HDF5's npoints wraps around); the size is checked by
  // check_readable before anything is read
  d.count = readable_count(d.shape, 0, what);
  return d;
}

// A dataset to be read whole must fit in memory, and must hold its data: deflate compresses
// at most about 1032:1, so a dataset that would take over 2048 times the bytes it stores (plus
// a MiB) is one whose data was never written (chunks missing, read as fill values) or a
// damaged file declaring any extent it likes.
void check_readable(const OpenDataset& d, std::size_t element_size, const std::string& what) {
  readable_count(d.shape, element_size, what);  // count * element_size fits in memory, so no overflow
  const unsigned long long stored = H5Dget_storage_size(d.dset.id()), bytes = d.count * element_size;
  if (bytes > (1ull << 20) && bytes / 2048 > stored)
    throw InputError(what + ": it declares " + std::to_string(d.count) + " elements but stores " + std::to_string(stored) +
                     " bytes (data not written, or a damaged file)");
}

void read_into(const OpenDataset& d, hid_t mem_type, void* buf, const std::string& file, const std::string& path) {
  if (d.count == 0) return;
  in(H5Dread(d.dset.id(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), file + ": cannot read dataset " + in_quotes(path));
}
}  // namespace

Shape Group::shape(const std::string& dataset) const {
  Lock l;
  return open_dataset(id_.id(), file_, dataset, full(dataset)).shape;
}

Array Group::read(const std::string& dataset) const {
  Lock l;
  auto d = open_dataset(id_.id(), file_, dataset, full(dataset));
  if (d.cls != H5T_INTEGER && d.cls != H5T_FLOAT)
    throw InputError(file_ + ": dataset " + in_quotes(full(dataset)) + ": expected numbers, got " + class_name(d.cls));
  check_readable(d, sizeof(double), file_ + ": cannot read " + in_quotes(full(dataset)));
  Array a{d.shape, std::vector<double>(d.count)};
  read_into(d, H5T_NATIVE_DOUBLE, a.data.data(), file_, full(dataset));
  return a;
}

Array Group::read(const std::string& dataset, std::size_t rank) const {
  Array a = read(dataset);
  if (a.shape.size() != rank) throw InputError(rank_message(file_, full(dataset), rank, a.shape));
  return a;
}

Eigen::MatrixXd Group::read_matrix(const std::string& name) const {
  Array a = read(name, 2);
  using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  return Eigen::Map<const RowMajor>(a.data.data(), static_cast<Eigen::Index>(a.shape[0]),
                                    static_cast<Eigen::Index>(a.shape[1]));
}

Eigen::VectorXd Group::read_vector(const std::string& name) const {
  Array a = read(name, 1);
  return Eigen::Map<const Eigen::VectorXd>(a.data.data(), static_cast<Eigen::Index>(a.data.size()));
}

std::vector<long long> Group::read_int(const std::string& name) const {
  Lock l;
  auto d = open_dataset(id_.id(), file_, name, full(name));
  if (d.cls != H5T_INTEGER)
    throw InputError(file_ + ": dataset " + in_quotes(full(name)) + ": expected integers, got " + class_name(d.cls));
  check_readable(d, sizeof(long long), file_ + ": cannot read " + in_quotes(full(name)));
  std::vector<long long> v(d.count);
  read_into(d, H5T_NATIVE_LLONG, v.data(), file_, full(name));
  return v;
}

ComplexArray Group::read_complex(const std::string& name) const {
  Lock l;
  auto d = open_dataset(id_.id(), file_, name, full(name));
  if (d.cls != H5T_COMPOUND || H5Tget_nmembers(d.type.id()) != 2 || H5Tget_member_index(d.type.id(), "r") < 0 ||
      H5Tget_member_index(d.type.id(), "i") < 0)
    throw InputError(file_ + ": dataset " + in_quotes(full(name)) + ": expected complex numbers (compound {r, i}), got " +
                     class_name(d.cls));
  check_readable(d, sizeof(std::complex<double>), file_ + ": cannot read " + in_quotes(full(name)));
  ComplexArray a{d.shape, std::vector<std::complex<double>>(d.count)};
  read_into(d, complex_type(H5T_NATIVE_DOUBLE).id(), a.data.data(), file_, full(name));
  return a;
}

// --- Group: writing datasets ---------------------------------------------------------------

namespace {
void write_dataset(hid_t loc, const std::string& file, const std::string& name, const std::string& path,
                   const Shape& shape, hid_t file_type, hid_t mem_type, const void* data, const WriteOptions& opt) {
  const std::string what = file + ": cannot write dataset " + in_quotes(path);
  if (exists(loc, name)) throw RunError(what + ": it exists");
  Handle dcpl = untimed(H5P_DATASET_CREATE);
  // Chunks (needed by compression) cannot exceed fixed extents, and a dataset without
  // elements or a scalar has nothing to chunk.
  if ((opt.deflate > 0 || !opt.chunk.empty()) && !shape.empty() && element_count(shape) > 0) {
    if (!opt.chunk.empty() && opt.chunk.size() != shape.size())
      throw RunError(what + ": chunk " + shape_string(opt.chunk) + " does not match shape " + shape_string(shape));
    Shape c = opt.chunk.empty() ? default_chunk(shape) : opt.chunk;
    for (std::size_t k = 0; k < c.size(); ++k) c[k] = std::clamp<std::size_t>(c[k], 1, shape[k]);
    auto hc = to_hsize(c);
    out(H5Pset_chunk(dcpl.id(), static_cast<int>(hc.size()), hc.data()), what);
    if (opt.deflate > 0) {
      out(H5Pset_shuffle(dcpl.id()), what);
      out(H5Pset_deflate(dcpl.id(), static_cast<unsigned>(std::min(opt.deflate, 9))), what);
    }
  }
  Handle space = make_space(shape);
  Handle d(out(H5Dcreate2(loc, name.c_str(), file_type, space.id(), make_parents().id(), dcpl.id(), H5P_DEFAULT), what));
  if (element_count(shape) > 0) out(H5Dwrite(d.id(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), what);
}
}  // namespace

void Group::write(const std::string& name, const Shape& shape, const double* data, const WriteOptions& opt) {
  Lock l;
  write_dataset(id_.id(), file_, name, full(name), shape, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, data, opt);
}

void Group::write(const std::string& name, const Eigen::MatrixXd& m) {
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> r = m;
  write(name, {static_cast<std::size_t>(m.rows()), static_cast<std::size_t>(m.cols())}, r.data());
}

void Group::write(const std::string& name, const Eigen::VectorXd& v) {
  write(name, {static_cast<std::size_t>(v.size())}, v.data());
}

void Group::write_int(const std::string& name, const Shape& shape, const long long* data) {
  Lock l;
  write_dataset(id_.id(), file_, name, full(name), shape, H5T_STD_I64LE, H5T_NATIVE_LLONG, data, {});
}

void Group::write_complex(const std::string& name, const Shape& shape, const std::complex<double>* data) {
  Lock l;
  write_dataset(id_.id(), file_, name, full(name), shape, complex_type(H5T_IEEE_F64LE).id(),
                complex_type(H5T_NATIVE_DOUBLE).id(), data, {});
}

void Group::set_dim_labels(const std::string& dataset, const std::vector<std::string>& labels) {
  Lock l;
  auto d = open_dataset(id_.id(), file_, dataset, full(dataset));
  const std::string what = file_ + ": cannot label the axes of " + in_quotes(full(dataset));
  if (labels.size() != d.shape.size())
    throw RunError(what + ": " + std::to_string(labels.size()) + " labels for shape " + shape_string(d.shape));
  for (std::size_t k = 0; k < labels.size(); ++k)
    out(H5DSset_label(d.dset.id(), static_cast<unsigned>(k), labels[k].c_str()), what);
}

void Group::write_strings(const std::string& name, const std::vector<std::string>& v) {
  Lock l;
  Handle t(out(H5Tcopy(H5T_C_S1), "cannot create a string type"));
  H5Tset_size(t.id(), H5T_VARIABLE);
  H5Tset_cset(t.id(), H5T_CSET_UTF8);
  std::vector<const char*> p;
  for (const auto& x : v) p.push_back(x.c_str());
  write_dataset(id_.id(), file_, name, full(name), {v.size()}, t.id(), t.id(), p.data(), {});
}

std::vector<std::string> Group::read_strings(const std::string& name) const {
  Lock l;
  auto d = open_dataset(id_.id(), file_, name, full(name));
  const std::string what = file_ + ": cannot read " + in_quotes(full(name)) + " as strings";
  if (d.cls != H5T_STRING || d.shape.size() != 1 || !H5Tis_variable_str(d.type.id()))
    throw InputError(what + ": expected a 1-D dataset of variable-length strings");
  Handle t(out(H5Tcopy(H5T_C_S1), "cannot create a string type"));
  H5Tset_size(t.id(), H5T_VARIABLE);
  H5Tset_cset(t.id(), H5Tget_cset(d.type.id()));
  std::vector<char*> p(d.count, nullptr);
  if (d.count > 0) out(H5Dread(d.dset.id(), t.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, p.data()), what);
  std::vector<std::string> v;
  for (char* c : p) {
    v.emplace_back(c ? c : "");
    H5free_memory(c);
  }
  return v;
}

void Group::attach_scale(const std::string& dataset, std::size_t axis, const std::string& scale,
                         const std::string& scale_name) {
  Lock l;
  auto d = open_dataset(id_.id(), file_, dataset, full(dataset));
  auto sc = open_dataset(id_.id(), file_, scale, full(scale));
  const std::string what = file_ + ": cannot attach " + in_quotes(full(scale)) + " to axis " + std::to_string(axis) +
                           " of " + in_quotes(full(dataset));
  if (axis >= d.shape.size() || sc.shape.size() != 1) throw RunError(what + ": not a 1-D scale for an existing axis");
  if (H5DSis_scale(sc.dset.id()) <= 0) out(H5DSset_scale(sc.dset.id(), scale_name.c_str()), what);
  out(H5DSattach_scale(d.dset.id(), sc.dset.id(), static_cast<unsigned>(axis)), what);
}

std::vector<std::string> Group::attached_scales(const std::string& dataset, std::size_t axis) const {
  Lock l;
  auto d = open_dataset(id_.id(), file_, dataset, full(dataset));
  std::vector<std::string> names;
  if (axis >= d.shape.size()) return names;
  auto visit = [](hid_t, unsigned, hid_t scale, void* data) -> herr_t {
    const ssize_t n = H5Iget_name(scale, nullptr, 0);
    std::string s(static_cast<std::size_t>(std::max<ssize_t>(n, 0)) + 1, '\0');
    if (n > 0) H5Iget_name(scale, s.data(), s.size());
    s.resize(static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
    static_cast<std::vector<std::string>*>(data)->push_back(s);
    return 0;
  };
  H5DSiterate_scales(d.dset.id(), static_cast<unsigned>(axis), nullptr, visit, &names);
  return names;
}

std::vector<std::string> Group::dim_labels(const std::string& dataset) const {
  Lock l;
  auto d = open_dataset(id_.id(), file_, dataset, full(dataset));
  std::vector<std::string> labels;
  for (unsigned k = 0; k < d.shape.size(); ++k) {
    ssize_t n = in(H5DSget_label(d.dset.id(), k, nullptr, 0), file_ + ": cannot read the axis labels of " + in_quotes(full(dataset)));
    std::string s(static_cast<std::size_t>(n) + 1, '\0');
    if (n > 0)
      in(H5DSget_label(d.dset.id(), k, s.data(), s.size()),
         file_ + ": cannot read the axis labels of " + in_quotes(full(dataset)));
    s.resize(static_cast<std::size_t>(n));
    labels.push_back(std::move(s));
  }
  return labels;
}

// --- Group: attributes ---------------------------------------------------------------------

namespace {
struct OpenAttr {
  Handle attr, type, space;
  H5T_class_t cls;
  std::size_t count;  // 0 for a null dataspace (h5py.Empty)
};

// All attribute readers start here; `where` names the attribute for messages.
OpenAttr open_attr(hid_t loc, const std::string& name, const std::string& where) {
  if (H5Aexists(loc, name.c_str()) <= 0) throw InputError(where + " not found");
  OpenAttr a;
  a.attr = Handle(in(H5Aopen(loc, name.c_str(), H5P_DEFAULT), "cannot open " + where));
  a.type = Handle(in(H5Aget_type(a.attr.id()), "cannot read " + where));
  a.space = Handle(in(H5Aget_space(a.attr.id()), "cannot read " + where));
  a.cls = type_class(a.type.id(), "cannot read " + where);
  const bool null = space_class(a.space.id(), "cannot read " + where) == H5S_NULL;
  a.count = null ? 0
                 : readable_count(space_shape(a.space.id(), "cannot read " + where),
                                  std::max<std::size_t>(H5Tget_size(a.type.id()), sizeof(long long)), "cannot read " + where);
  return a;
}

// Integers of any width, h5py's bool (an enum over int8) and whole-valued floats.
std::vector<long long> attr_ints(const OpenAttr& a, const std::string& where) {
  std::vector<long long> v(a.count);
  if (a.count == 0) return v;
  if (a.cls == H5T_INTEGER) {
    in(H5Aread(a.attr.id(), H5T_NATIVE_LLONG, v.data()), "cannot read " + where);
  } else if (a.cls == H5T_ENUM) {
    // HDF5 does not convert enums to integers: read the raw values, then convert the base type.
    Handle base(in(H5Tget_super(a.type.id()), "cannot read " + where));
    const std::size_t size = H5Tget_size(a.type.id());
    if (size == 0) throw InputError("cannot read " + where + " (" + hdf5_detail() + ")");
    std::vector<unsigned char> buf(a.count * std::max<std::size_t>(size, sizeof(long long)));
    in(H5Aread(a.attr.id(), a.type.id(), buf.data()), "cannot read " + where);
    in(H5Tconvert(base.id(), H5T_NATIVE_LLONG, a.count, buf.data(), nullptr, H5P_DEFAULT), "cannot read " + where);
    std::memcpy(v.data(), buf.data(), a.count * sizeof(long long));
  } else if (a.cls == H5T_FLOAT) {
    std::vector<double> d(a.count);
    in(H5Aread(a.attr.id(), H5T_NATIVE_DOUBLE, d.data()), "cannot read " + where);
    for (std::size_t k = 0; k < d.size(); ++k) {
      if (!(std::trunc(d[k]) == d[k] && std::fabs(d[k]) < 9.0e18))
        throw InputError(where + ": expected an integer, got " + std::to_string(d[k]));
      v[k] = static_cast<long long>(d[k]);
    }
  } else {
    throw InputError(where + ": expected an integer, got " + class_name(a.cls));
  }
  return v;
}
}  // namespace

namespace {
// Writes (or replaces) an attribute of the object `loc`, which is `path` in `file`.
void write_attr(hid_t loc, const std::string& file, const std::string& path, const std::string& name, const Shape& shape,
                hid_t file_type, hid_t mem_type, const void* data) {
  const std::string what = file + ": cannot write attribute " + in_quotes(name) + " of " + in_quotes(path);
  if (H5Aexists(loc, name.c_str()) > 0) out(H5Adelete(loc, name.c_str()), what);
  Handle a(out(H5Acreate2(loc, name.c_str(), file_type, make_space(shape).id(), H5P_DEFAULT, H5P_DEFAULT), what));
  static const long long dummy = 0;  // HDF5 wants a buffer even for zero elements
  out(H5Awrite(a.id(), mem_type, data ? data : &dummy), what);
}
}  // namespace

// Strings are variable-length UTF-8, which h5py reads as str (fixed-length would be bytes).
void Group::set_attr(const std::string& name, const std::string& v) {
  Lock l;
  Handle t(out(H5Tcopy(H5T_C_S1), "cannot create a string type"));
  out(H5Tset_size(t.id(), H5T_VARIABLE), "cannot create a string type");
  out(H5Tset_cset(t.id(), H5T_CSET_UTF8), "cannot create a string type");
  const char* p = v.c_str();
  write_attr(id_.id(), file_, path_, name, {}, t.id(), t.id(), &p);
}

void Group::set_attr(const std::string& name, long long v) {
  Lock l;
  write_attr(id_.id(), file_, path_, name, {}, H5T_STD_I64LE, H5T_NATIVE_LLONG, &v);
}

void Group::set_attr(const std::string& name, double v) {
  Lock l;
  write_attr(id_.id(), file_, path_, name, {}, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
}

void Group::set_attr(const std::string& name, const std::vector<long long>& v) {
  Lock l;
  write_attr(id_.id(), file_, path_, name, {v.size()}, H5T_STD_I64LE, H5T_NATIVE_LLONG, v.empty() ? nullptr : v.data());
}

std::string Group::attr_string(const std::string& name) const {
  Lock l;
  const std::string where = file_ + ": attribute " + in_quotes(name) + " of " + in_quotes(path_);
  auto a = open_attr(id_.id(), name, where);
  if (a.cls != H5T_STRING || a.count != 1)
    throw InputError(where + ": expected a string, got " +
                     (a.cls == H5T_STRING ? std::to_string(a.count) + " strings" : std::string(class_name(a.cls))));
  // Read with the attribute's own type: HDF5 does not convert between ASCII and UTF-8.
  if (in(H5Tis_variable_str(a.type.id()), "cannot read " + where) > 0) {
    char* p = nullptr;
    in(H5Aread(a.attr.id(), a.type.id(), &p), "cannot read " + where);
    std::string s = p ? p : "";
    H5Dvlen_reclaim(a.type.id(), a.space.id(), H5P_DEFAULT, &p);
    return s;
  }
  const std::size_t size = H5Tget_size(a.type.id());
  if (size == 0) throw InputError("cannot read " + where + " (" + hdf5_detail() + ")");
  std::string s(size, '\0');
  in(H5Aread(a.attr.id(), a.type.id(), s.data()), "cannot read " + where);
  if (H5Tget_strpad(a.type.id()) == H5T_STR_SPACEPAD) {
    s.erase(s.find_last_not_of(' ') + 1);
  } else if (auto nul = s.find('\0'); nul != std::string::npos) {
    s.resize(nul);
  }
  return s;
}

long long Group::attr_int(const std::string& name) const {
  Lock l;
  const std::string where = file_ + ": attribute " + in_quotes(name) + " of " + in_quotes(path_);
  auto a = open_attr(id_.id(), name, where);
  if (a.count != 1) throw InputError(where + ": expected one integer, got " + std::to_string(a.count) + " values");
  return attr_ints(a, where)[0];
}

namespace {
double read_attr_double(hid_t loc, const std::string& name, const std::string& where) {
  auto a = open_attr(loc, name, where);
  if (a.count != 1) throw InputError(where + ": expected one number, got " + std::to_string(a.count) + " values");
  if (a.cls == H5T_ENUM) return static_cast<double>(attr_ints(a, where)[0]);
  if (a.cls != H5T_INTEGER && a.cls != H5T_FLOAT)
    throw InputError(where + ": expected a number, got " + class_name(a.cls));
  double v = 0;
  in(H5Aread(a.attr.id(), H5T_NATIVE_DOUBLE, &v), "cannot read " + where);
  return v;
}
}  // namespace

double Group::attr_double(const std::string& name) const {
  Lock l;
  return read_attr_double(id_.id(), name, file_ + ": attribute " + in_quotes(name) + " of " + in_quotes(path_));
}

double Group::dataset_attr_double(const std::string& dataset, const std::string& name, double fallback) const {
  Lock l;
  const std::string what = file_ + ": dataset " + in_quotes(full(dataset));
  Handle d(in(H5Dopen2(id_.id(), dataset.c_str(), H5P_DEFAULT), "cannot open " + what));
  if (H5Aexists(d.id(), name.c_str()) <= 0) return fallback;
  return read_attr_double(d.id(), name, what + ": attribute " + in_quotes(name));
}

std::vector<long long> Group::attr_int_array(const std::string& name) const {
  Lock l;
  const std::string where = file_ + ": attribute " + in_quotes(name) + " of " + in_quotes(path_);
  auto a = open_attr(id_.id(), name, where);
  Shape s = space_shape(a.space.id(), "cannot read " + where);
  if (s.size() > 1) throw InputError(where + ": expected a list of integers, got shape " + shape_string(s));
  // An empty list written from Python (np.array([])) is float64: fine, it holds no numbers.
  if (a.count == 0) return {};
  return attr_ints(a, where);
}

// --- File ------------------------------------------------------------------------------------

namespace {
// Names the reason a path cannot be used as a file, or returns "".
std::string unusable(const std::string& path, int mode) {
  std::error_code ec;
  auto st = fs::status(path, ec);
  if (!fs::exists(st)) return "no such file";
  if (fs::is_directory(st)) return "it is a directory";
  if (::access(path.c_str(), mode) != 0) return errno == EACCES ? "permission denied" : std::strerror(errno);
  return "";
}

// The directory a new file goes to must exist and be writable; say which when it is not.
void require_writable_dir(const std::string& path) {
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw RunError("cannot write " + in_quotes(path) + ": directory " + in_quotes(dir.string()) + " does not exist");
  if (::access(dir.c_str(), W_OK) != 0)
    throw RunError("cannot write " + in_quotes(path) + ": directory " + in_quotes(dir.string()) + " is not writable");
}
}  // namespace

File File::open_impl(const std::string& path, bool rw) {
  Lock l;
  if (auto why = unusable(path, rw ? R_OK | W_OK : R_OK); !why.empty())
    throw InputError("cannot open " + in_quotes(path) + ": " + why);
  htri_t is = H5Fis_hdf5(path.c_str());
  if (is == 0) throw InputError(in_quotes(path) + " is not an HDF5 file");
  const std::string what = "cannot open " + in_quotes(path) + ": HDF5 cannot read it";
  in(is, what);
  Handle f(in(H5Fopen(path.c_str(), rw ? H5F_ACC_RDWR : H5F_ACC_RDONLY, file_access(false).id()), what));
  return File(std::move(f), path, "/");
}

File File::create_impl(const std::string& path, bool close_strong, bool exclusive) {
  Lock l;
  require_writable_dir(path);
  Handle fcpl = untimed(H5P_FILE_CREATE);  // the root group's creation properties
  Handle f(out(H5Fcreate(path.c_str(), exclusive ? H5F_ACC_EXCL : H5F_ACC_TRUNC, fcpl.id(), file_access(close_strong).id()),
               "cannot create " + in_quotes(path) + (exclusive && fs::exists(path) ? ": it exists (another process?)" : "")));
  return File(std::move(f), path, "/");
}

File File::open(const std::string& path) { return open_impl(path, false); }
File File::open_rw(const std::string& path) { return open_impl(path, true); }
File File::create(const std::string& path) { return create_impl(path, false, false); }
File File::create_new(const std::string& path) { return create_impl(path, false, true); }

std::optional<RunFileInfo> training_run_info(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return std::nullopt;
  {
    Lock l;
    if (H5Fis_hdf5(path.c_str()) <= 0) return std::nullopt;
  }
  try {
    const File f = File::open(path);
    if (!f.has_attr("format") || f.attr_string("format") != "stackdyn-run") return std::nullopt;
    RunFileInfo info;
    if (f.has_attr("steps")) info.steps = f.attr_int("steps");
    if (f.has_attr("last_checkpoint")) info.last_checkpoint = f.attr_int("last_checkpoint");
    info.complete = f.has_attr("complete") && f.attr_int("complete") != 0;
    return info;
  } catch (const Error&) {
    return std::nullopt;  // unreadable: not a run anyone can resume
  }
}

void refuse_interrupted_run(const std::string& final_path) {
  const std::string partial = final_path + ".partial";
  const auto info = training_run_info(partial);
  if (!info || info->complete) return;
  throw InputError(in_quotes(partial) + " holds an interrupted training run (last checkpoint at step " +
                   std::to_string(info->last_checkpoint) + " of " + std::to_string(info->steps) +
                   "); continue it with 'stackdyn train CONFIG --resume " + final_path +
                   "' or remove it, or choose another output name");
}

void File::flush() {
  Lock l;
  out(H5Fflush(id_.id(), H5F_SCOPE_GLOBAL), file_ + ": cannot write to disk");
}

void File::close() {
  if (!id_.valid()) return;
  flush();
  id_.reset();
}

// --- AtomicOutput ----------------------------------------------------------------------------

AtomicOutput::AtomicOutput(std::string final_path) : final_(std::move(final_path)), partial_(final_ + ".partial") {
  require_writable_dir(final_);
  // An interrupted training run is never replaced; a stale .partial of anything else is.
  refuse_interrupted_run(final_);
  std::error_code ec;
  fs::remove(partial_, ec);
  // Created exclusively: a file that appeared meanwhile is not truncated. A strong close:
  // commit() closes every object of the file, so nothing reaches the file after it has
  // been renamed.
  file_ = File::create_impl(partial_, true, true);
}

void AtomicOutput::commit() {
  if (committed_) return;
  file_.close();
  std::error_code ec;
  fs::rename(partial_, final_, ec);
  if (ec) throw RunError("cannot write " + in_quotes(final_) + ": renaming " + in_quotes(partial_) + " failed: " + ec.message());
  committed_ = true;
}

AtomicOutput::~AtomicOutput() {
  if (committed_) return;
  file_ = File();  // closes without flushing: the file is discarded anyway
  std::error_code ec;
  fs::remove(partial_, ec);
}

// --- Appender --------------------------------------------------------------------------------

Appender::Appender(Group& g, const std::string& name, Shape shape, std::size_t axis, Shape chunk, int deflate)
    : file_(g.file_name()), name_(g.full(name)), shape_(std::move(shape)), axis_(axis) {
  Lock l;
  const std::string what = file_ + ": cannot write dataset " + in_quotes(name_);
  if (axis_ >= shape_.size())
    throw RunError(what + ": axis " + std::to_string(axis_) + " out of range for shape " + shape_string(shape_));
  if (exists(g.id_.id(), name)) {  // a resumed run: continue the dataset if it fits
    auto d = open_dataset(g.id_.id(), file_, name, name_);
    Handle space(in(H5Dget_space(d.dset.id()), what));
    std::vector<hsize_t> maxdims(d.shape.size());
    in(H5Sget_simple_extent_dims(space.id(), nullptr, maxdims.data()), what);
    Shape want = shape_, got = d.shape;
    want[axis_] = got.size() > axis_ ? got[axis_] : 0;
    if (d.cls != H5T_FLOAT || got != want || maxdims[axis_] != H5S_UNLIMITED)
      throw InputError(file_ + ": dataset " + in_quotes(name_) + " cannot be continued: expected floats of shape " +
                       shape_string(want) + " extendable along axis " + std::to_string(axis_) + ", got shape " +
                       shape_string(got));
    dset_ = d.dset;
    shape_ = got;
    return;
  }
  // Fixed extents of zero cannot hold a chunk: leave them unlimited too.
  std::vector<hsize_t> hmax = to_hsize(shape_);
  for (std::size_t k = 0; k < hmax.size(); ++k)
    if (k == axis_ || hmax[k] == 0) hmax[k] = H5S_UNLIMITED;
  if (chunk.empty()) {  // whole slabs, about 64k elements (512 KiB) a chunk
    chunk = shape_;
    chunk[axis_] = 1;
    for (auto& c : chunk) c = std::max<std::size_t>(c, 1);
    chunk[axis_] = std::max<std::size_t>(1, 65536 / element_count(chunk));
    chunk = default_chunk(chunk);
  }
  if (chunk.size() != shape_.size())
    throw RunError(what + ": chunk " + shape_string(chunk) + " does not match shape " + shape_string(shape_));
  for (std::size_t k = 0; k < chunk.size(); ++k)
    chunk[k] = std::max<std::size_t>(1, hmax[k] == H5S_UNLIMITED ? chunk[k] : std::min(chunk[k], shape_[k]));
  Handle dcpl = untimed(H5P_DATASET_CREATE);
  auto hc = to_hsize(chunk);
  out(H5Pset_chunk(dcpl.id(), static_cast<int>(hc.size()), hc.data()), what);
  if (deflate > 0) {
    out(H5Pset_shuffle(dcpl.id()), what);
    out(H5Pset_deflate(dcpl.id(), static_cast<unsigned>(std::min(deflate, 9))), what);
  }
  auto dims = to_hsize(shape_);
  Handle space(out(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), hmax.data()), what));
  dset_ = Handle(out(H5Dcreate2(g.id_.id(), name.c_str(), H5T_IEEE_F64LE, space.id(), make_parents().id(), dcpl.id(),
                                H5P_DEFAULT),
                     what));
}

void Appender::append(const double* slab, std::size_t count) {
  if (count == 0) return;
  Lock l;
  const std::string what = file_ + ": cannot append to dataset " + in_quotes(name_);
  Shape grown = shape_, block = shape_;
  grown[axis_] += count;
  block[axis_] = count;
  auto hgrown = to_hsize(grown), hblock = to_hsize(block);
  std::vector<hsize_t> start(shape_.size(), 0);
  start[axis_] = shape_[axis_];
  out(H5Dset_extent(dset_.id(), hgrown.data()), what);
  Handle fspace(out(H5Dget_space(dset_.id()), what));
  out(H5Sselect_hyperslab(fspace.id(), H5S_SELECT_SET, start.data(), nullptr, hblock.data(), nullptr), what);
  Handle mspace = make_space(block);
  out(H5Dwrite(dset_.id(), H5T_NATIVE_DOUBLE, mspace.id(), fspace.id(), H5P_DEFAULT, slab), what);
  shape_ = grown;
}

}  // namespace stackdyn::h5

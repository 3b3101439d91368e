// Reading and writing the model file of docs/model-format.md.
#pragma once
#include <stackdyn/core/h5.hpp>
#include <stackdyn/model/model.hpp>
#include <stackdyn/core/provenance.hpp>

#include <string>

namespace stackdyn {

inline constexpr const char* model_format = "stackdyn-model";
inline constexpr long long model_format_version = 1;
/// The `format` of a training run file (`stackdyn train`, docs/training.md): read_model_spec
/// reads its /final_model, and says how to read a checkpoint of an unfinished one.
inline constexpr const char* run_format = "stackdyn-run";

/// Reads and validates a model file. InputError naming the file and the object for a
/// missing file, a file that is not a stackdyn model of a supported version, an unknown
/// cell, a missing or unexpected dataset, a wrong shape or a non-finite value.
Model read_model(const std::string& path);
/// Reads a model stored in a group (the root of a model file, or a model embedded in a
/// result file).
Model read_model(const h5::Group& g);

/// Writes a model file atomically (PATH.partial, then renamed). The model is validated first.
void write_model(const Model& m, const std::string& path, const Provenance& p);
/// Writes a model into an open group, e.g. to embed it into a result file.
void write_model(const Model& m, h5::Group& g, const Provenance& p);

/// One way to name a model, for every command that reads one:
///   - a model file (`model.h5`);
///   - a result file that holds a model: its group `/final_model` (a training run) or
///     `/model` (the demo's file);
///   - `FILE.h5:/path/to/group`, a model stored in any group of a file.
/// InputError naming the spec when none of these holds a model.
Model read_model_spec(const std::string& spec);
/// The file part of a model spec (`FILE.h5` of `FILE.h5:/group`, else the spec itself).
std::string model_spec_file(const std::string& spec);

/// Writes /state_slices (L, 2), the attribute state_dim, a readable state_layout (the state
/// order of docs/design.md 2) and `state_names` (state_dim,): `layer0.h[3]`, `layer1.c[0]`,
/// ... one per coordinate; recorded in every result file.
void write_state_layout(h5::Group& root, const Model& m);
/// Attaches `state_names` (written by write_state_layout in the same group) as the
/// dimension scale of axis `axis` of `dataset` (a path relative to `group`).
void attach_state_axis(h5::Group& group, const std::string& dataset, std::size_t axis);

}  // namespace stackdyn

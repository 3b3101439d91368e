// The project's only door to HDF5 (docs/design.md section 5): RAII handles, groups, datasets,
// attributes, atomic result files and appendable datasets. hdf5.h stays inside h5.cpp.
#pragma once
#include <Eigen/Dense>

#include <complex>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace stackdyn::h5 {

/// Dataset extents, C order, as numpy prints them.
using Shape = std::vector<std::size_t>;
/// "(4, 5)", "(4,)" for rank 1, "()" for a scalar: numpy's spelling.
std::string shape_string(const Shape& s);
/// Number of elements of a shape (1 for a scalar); RunError when it overflows 64 bits.
std::size_t element_count(const Shape& s);

struct Array {  ///< a numeric dataset converted to float64, C order
  Shape shape;
  std::vector<double> data;
};
struct ComplexArray {  ///< a {r, i} compound dataset, C order
  Shape shape;
  std::vector<std::complex<double>> data;
};

struct WriteOptions {
  Shape chunk;      ///< empty = contiguous (or automatic chunks when deflate > 0)
  int deflate = 0;  ///< gzip level 0..9; > 0 also turns on the shuffle filter
};

/// Owns one HDF5 identifier (an hid_t, stored as int64 to keep hdf5.h private). Copies
/// share the identifier by reference count; the last one closes it.
class Handle {
 public:
  Handle() = default;
  explicit Handle(std::int64_t id) : id_(id) {}
  Handle(const Handle& o);
  Handle(Handle&& o) noexcept : id_(o.id_) { o.id_ = -1; }
  Handle& operator=(Handle o) noexcept {
    std::swap(id_, o.id_);
    return *this;
  }
  ~Handle();
  std::int64_t id() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset();  ///< closes now (errors are swallowed: destructors never throw)

 private:
  std::int64_t id_ = -1;
};

/// A group of an open file (a File is its root group). Names are relative to the group
/// ("layers/0/weight_ih") or absolute ("/inputs"). Writes create intermediate groups and
/// refuse to overwrite an existing dataset; attributes are replaced.
class Group {
 public:
  Group() = default;

  bool has(const std::string& name) const;  ///< a link resolving to an object exists
  bool has_attr(const std::string& name) const;
  Group group(const std::string& name) const;  ///< InputError if missing or not a group
  Group create_group(const std::string& name);
  /// Unlinks a dataset or group (HDF5 does not give the space back until the file is repacked).
  void remove(const std::string& name);
  std::vector<std::string> children() const;  ///< link names, in name order

  Shape shape(const std::string& dataset) const;  ///< InputError if missing
  Array read(const std::string& dataset) const;   ///< any integer or float dataset
  Array read(const std::string& dataset, std::size_t rank) const;  ///< InputError unless of that rank
  Eigen::MatrixXd read_matrix(const std::string& name) const;  ///< rank 2; m(i, j) = a[i, j]
  Eigen::VectorXd read_vector(const std::string& name) const;  ///< rank 1
  std::vector<long long> read_int(const std::string& name) const;  ///< integer data, flattened
  ComplexArray read_complex(const std::string& name) const;       ///< {r, i} compound

  void write(const std::string& name, const Shape& shape, const double* data,
             const WriteOptions& opt = {});
  void write(const std::string& name, const Eigen::MatrixXd& m);  ///< shape (rows, cols)
  void write(const std::string& name, const Eigen::VectorXd& v);  ///< shape (n,)
  void write_int(const std::string& name, const Shape& shape, const long long* data);
  /// Compound {r: float64, i: float64}: h5py reads it as complex128.
  void write_complex(const std::string& name, const Shape& shape, const std::complex<double>* data);
  /// 1-D variable-length UTF-8 strings (h5py: an array of str).
  void write_strings(const std::string& name, const std::vector<std::string>& v);
  std::vector<std::string> read_strings(const std::string& name) const;
  /// Makes `scale` (a 1-D dataset) a dimension scale called `scale_name` and attaches it to
  /// axis `axis` of `dataset` (h5py: dset.dims[axis][0]). Both names relative to this group
  /// or absolute ("/time").
  void attach_scale(const std::string& dataset, std::size_t axis, const std::string& scale,
                    const std::string& scale_name);
  /// Absolute paths of the scales attached to an axis of `dataset`.
  std::vector<std::string> attached_scales(const std::string& dataset, std::size_t axis) const;
  /// Dimension-scale labels, one per axis (h5py: dset.dims[k].label).
  void set_dim_labels(const std::string& dataset, const std::vector<std::string>& labels);
  std::vector<std::string> dim_labels(const std::string& dataset) const;  ///< "" for unlabelled axes

  void set_attr(const std::string& name, const std::string& v);  ///< variable-length UTF-8
  void set_attr(const std::string& name, const char* v) { set_attr(name, std::string(v)); }
  void set_attr(const std::string& name, long long v);
  void set_attr(const std::string& name, int v) { set_attr(name, static_cast<long long>(v)); }
  void set_attr(const std::string& name, double v);
  void set_attr(const std::string& name, const std::vector<long long>& v);  ///< shape (n,)
  /// Variable- or fixed-length string (h5py str / numpy bytes).
  std::string attr_string(const std::string& name) const;
  /// Any integer type, h5py's bool enum, or a float holding a whole number.
  long long attr_int(const std::string& name) const;
  double attr_double(const std::string& name) const;  ///< any integer or float
  /// A numeric attribute of a dataset of this group, or `fallback` when it has none.
  double dataset_attr_double(const std::string& dataset, const std::string& name, double fallback) const;
  /// A 1-D array (possibly empty) or a scalar of integers.
  std::vector<long long> attr_int_array(const std::string& name) const;

  const std::string& file_name() const { return file_; }
  std::string path() const { return path_; }

 protected:
  Group(Handle id, std::string file, std::string path)
      : id_(std::move(id)), file_(std::move(file)), path_(std::move(path)) {}
  std::string full(const std::string& name) const;  ///< absolute path of a name, for messages

  Handle id_;
  std::string file_;
  std::string path_ = "/";

  friend class Appender;
};

class File : public Group {
 public:
  File() = default;
  /// Read-only. InputError when missing, unreadable or not HDF5.
  static File open(const std::string& path);
  /// Read-write (to resume a run). InputError as for open().
  static File open_rw(const std::string& path);
  /// New empty file, truncating any old one. RunError when it cannot be created.
  static File create(const std::string& path);
  /// New empty file; RunError when the path exists (exclusive creation, never truncates).
  static File create_new(const std::string& path);
  void flush();
  /// Closes the file now. Throws RunError when buffered data cannot be written.
  void close();

 private:
  using Group::Group;
  friend class AtomicOutput;
  static File open_impl(const std::string& path, bool rw);
  static File create_impl(const std::string& path, bool close_strong, bool exclusive);
};

/// What the root attributes of a training run's file (`stackdyn train`, format
/// "stackdyn-run") say; nullopt for a missing, unreadable or other kind of file.
struct RunFileInfo {
  long long steps = 0, last_checkpoint = -1;
  bool complete = false;
};
std::optional<RunFileInfo> training_run_info(const std::string& path);

/// InputError when PATH.partial is an interrupted (resumable) training run: one line naming
/// it and saying `stackdyn train CONFIG --resume PATH` or remove it (docs/cli.md).
void refuse_interrupted_run(const std::string& final_path);

/// No half-written results (docs/design.md section 5): the file is written as PATH.partial and
/// renamed to PATH by commit(). Destroyed without commit (an exception), it removes the
/// .partial file and leaves PATH untouched. commit() closes every object of the file.
/// The .partial is created exclusively; an existing one is replaced unless it is an
/// interrupted training run (refuse_interrupted_run).
class AtomicOutput {
 public:
  explicit AtomicOutput(std::string final_path);  ///< RunError if the directory is not writable
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;
  ~AtomicOutput();

  File& file() { return file_; }
  const std::string& path() const { return final_; }
  const std::string& partial_path() const { return partial_; }
  void commit();  ///< flush, close, rename; RunError on failure

 private:
  std::string final_, partial_;
  File file_;
  bool committed_ = false;
};

/// A chunked, compressed dataset that grows along one axis, so that a long run writes as it
/// goes and its memory does not grow with its length. Opening a name that already exists
/// (a resumed run) continues it after checking the fixed extents.
class Appender {
 public:
  /// `shape` gives the fixed extents (its entry at `axis` is the starting length, normally
  /// 0); `chunk` empty picks one of about 64k elements.
  Appender(Group& g, const std::string& name, Shape shape, std::size_t axis, Shape chunk = {},
           int deflate = 4);
  /// `slab` holds `count` entries along the axis, C order, the other extents as the dataset's.
  void append(const double* slab, std::size_t count);
  std::size_t length() const { return shape_[axis_]; }
  const Shape& shape() const { return shape_; }

 private:
  Handle dset_;
  std::string file_, name_;
  Shape shape_;
  std::size_t axis_;
};

}  // namespace stackdyn::h5

// gnntrack: GNN track finding for the LUXE positron tracker, C++17 API.
//
// A header-only layer over the C API of gnntrack.h: move-only RAII handles, exceptions that
// carry the status and message of a failed call, and views over the results that stay valid
// as long as the Result they come from. Link against libgnntrack (CMake: gnntrack::gnntrack).
//
//     gnntrack::Config config;
//     config.set("tracks.min_hits", "3");
//     gnntrack::Tracker tracker(config);
//     gnntrack::Result result = tracker.reconstruct(x, y, z, layer, stave);
//     for (const gnntrack::Candidate& c : result) { c.hits; c.fit; }
//
// Generic graph models, for hosts that build their own graphs (node, edge or graph outputs):
//
//     gnntrack::GraphModel model("cluster.onnx");
//     gnntrack::GraphOutput out = model.run(node_features, edge_index, {}, graph_index, n_graphs);
//     out.row(g);  // the output_width values of graph g
//
// Thread safety follows the C API: one Tracker serves concurrent reconstruct() calls, a Result
// is read-only, a Config must not be changed from two threads at once.
#ifndef GNNTRACK_HPP
#define GNNTRACK_HPP

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "gnntrack.h"

namespace gnntrack {

/// A failed call: the C status and the library's message (what()).
class Error : public std::runtime_error {
public:
    Error(gnntrack_status status, const std::string& message)
        : std::runtime_error(message), status_(status) {}

    /// The status of the failed call.
    gnntrack_status status() const noexcept { return status_; }

    /// The status name, e.g. "GNNTRACK_STATUS_INVALID_HIT".
    const char* status_name() const noexcept { return gnntrack_status_name(status_); }

private:
    gnntrack_status status_;
};

namespace detail {

/// Throws an Error for a failed status, with the thread's last error message.
inline void check(gnntrack_status status) {
    if (status != GNNTRACK_STATUS_OK) {
        throw Error(status, gnntrack_last_error());
    }
}

template <typename T, void (*Free)(T*)>
struct Deleter {
    void operator()(T* handle) const noexcept { Free(handle); }
};

template <typename T, void (*Free)(T*)>
using Handle = std::unique_ptr<T, Deleter<T, Free>>;

}  // namespace detail

/// The library version, e.g. "0.1.0".
inline std::string version() { return gnntrack_version(); }

/// The ABI version of the loaded library.
inline std::uint32_t abi_version() noexcept { return gnntrack_abi_version(); }

/// Throws when the loaded library has another ABI than this header.
inline void check_abi() {
    if (gnntrack_abi_version() != GNNTRACK_ABI_VERSION) {
        throw Error(GNNTRACK_STATUS_INVALID_ARGUMENT,
                    "libgnntrack has ABI version " + std::to_string(gnntrack_abi_version()) +
                        ", this header expects " + std::to_string(GNNTRACK_ABI_VERSION));
    }
}

/// A read-only view of `size()` contiguous values owned by someone else (a C++17 stand-in for
/// std::span<const T>).
template <typename T>
class View {
public:
    using value_type = T;
    using const_iterator = const T*;

    View() noexcept = default;
    View(const T* data, std::size_t size) noexcept : data_(data), size_(size) {}

    const T* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    const T& operator[](std::size_t i) const noexcept { return data_[i]; }
    /// Bounds-checked access.
    const T& at(std::size_t i) const {
        if (i >= size_) {
            throw std::out_of_range("gnntrack::View::at: index " + std::to_string(i) +
                                    " >= size " + std::to_string(size_));
        }
        return data_[i];
    }
    const T* begin() const noexcept { return data_; }
    const T* end() const noexcept { return data_ + size_; }
    /// A copy of the values.
    std::vector<T> to_vector() const { return std::vector<T>(begin(), end()); }

private:
    const T* data_ = nullptr;
    std::size_t size_ = 0;
};

/// A tracker configuration: every key at its default until set or loaded.
class Config {
public:
    /// The default configuration (geometry luxe, the bundled model, the CPU provider).
    Config() {
        gnntrack_config* raw = nullptr;
        detail::check(gnntrack_config_new(&raw));
        handle_.reset(raw);
    }

    /// The configuration of a TOML file.
    static Config from_file(const std::string& path) {
        Config config;
        config.load_file(path);
        return config;
    }

    /// The configuration of a TOML text.
    static Config from_string(const std::string& toml) {
        Config config;
        config.load_string(toml);
        return config;
    }

    /// Sets one key (e.g. "tracks.min_hits", "inference.provider") from its text.
    Config& set(const std::string& key, const std::string& value) {
        detail::check(gnntrack_config_set(handle_.get(), key.c_str(), value.c_str()));
        return *this;
    }

    /// Replaces every key by a TOML file's (defaults for the keys it does not set).
    Config& load_file(const std::string& path) {
        detail::check(gnntrack_config_load_file(handle_.get(), path.c_str()));
        return *this;
    }

    /// Replaces every key by a TOML text's (defaults for the keys it does not set).
    Config& load_string(const std::string& toml) {
        detail::check(gnntrack_config_load_string(handle_.get(), toml.c_str()));
        return *this;
    }

    /// The configuration as TOML.
    std::string to_toml() const {
        std::size_t length = 0;
        detail::check(gnntrack_config_to_toml(handle_.get(), nullptr, 0, &length));
        std::string text(length + 1, '\0');
        detail::check(gnntrack_config_to_toml(handle_.get(), &text[0], text.size(), &length));
        text.resize(length);
        return text;
    }

    /// The C handle (owned by this object).
    const gnntrack_config* get() const noexcept { return handle_.get(); }
    gnntrack_config* get() noexcept { return handle_.get(); }

private:
    detail::Handle<gnntrack_config, gnntrack_config_free> handle_;
};

/// One track candidate of a Result: its hits (indices into the caller's hit arrays, ordered by
/// z) and its straight-line fit. Valid as long as the Result.
struct Candidate {
    View<std::uint32_t> hits;
    const gnntrack_fit& fit;
};

/// The candidates of one reconstruction; owns their memory (move-only).
class Result {
public:
    /// Takes ownership of a C result (as returned by gnntrack_reconstruct).
    explicit Result(gnntrack_result* raw) : handle_(raw) {
        detail::check(gnntrack_result_candidate_count(raw, &count_));
        detail::check(gnntrack_result_hit_indices(raw, &offsets_, &indices_));
        detail::check(gnntrack_result_fits(raw, &fits_));
    }

    /// Moves the candidates; the moved-from result is empty.
    Result(Result&& other) noexcept { swap(other); }
    Result& operator=(Result&& other) noexcept {
        Result gone(std::move(other));
        swap(gone);
        return *this;
    }
    Result(const Result&) = delete;
    Result& operator=(const Result&) = delete;
    ~Result() = default;

    /// Number of candidates.
    std::size_t size() const noexcept { return count_; }
    bool empty() const noexcept { return count_ == 0; }

    /// Candidate i (unchecked).
    Candidate operator[](std::size_t i) const noexcept {
        return Candidate{hits(i), fits_[i]};
    }

    /// Candidate i, bounds-checked.
    Candidate at(std::size_t i) const {
        if (i >= count_) {
            throw std::out_of_range("gnntrack::Result::at: candidate " + std::to_string(i) +
                                    " >= size " + std::to_string(count_));
        }
        return (*this)[i];
    }

    /// Hit indices of candidate i (unchecked).
    View<std::uint32_t> hits(std::size_t i) const noexcept {
        return View<std::uint32_t>(indices_ + offsets_[i], offsets_[i + 1] - offsets_[i]);
    }

    /// Fits of all candidates.
    View<gnntrack_fit> fits() const noexcept { return View<gnntrack_fit>(fits_, count_); }

    /// Compressed hit lists: size() + 1 offsets into indices() (none when moved from).
    View<std::size_t> offsets() const noexcept {
        return offsets_ ? View<std::size_t>(offsets_, count_ + 1) : View<std::size_t>();
    }

    /// All hit indices, candidate after candidate.
    View<std::uint32_t> indices() const noexcept {
        return offsets_ ? View<std::uint32_t>(indices_, offsets_[count_]) : View<std::uint32_t>();
    }

    /// Per-stage times, seconds.
    gnntrack_times times() const {
        gnntrack_times t{};
        detail::check(gnntrack_result_times(handle_.get(), &t));
        return t;
    }

    /// Size of the scored graph.
    gnntrack_graph_summary graph() const {
        gnntrack_graph_summary g{};
        detail::check(gnntrack_result_graph(handle_.get(), &g));
        return g;
    }

    /// Iterates over the candidates.
    class const_iterator {
    public:
        const_iterator(const Result* result, std::size_t i) noexcept : result_(result), i_(i) {}
        Candidate operator*() const noexcept { return (*result_)[i_]; }
        const_iterator& operator++() noexcept {
            ++i_;
            return *this;
        }
        bool operator!=(const const_iterator& other) const noexcept { return i_ != other.i_; }
        bool operator==(const const_iterator& other) const noexcept { return i_ == other.i_; }

    private:
        const Result* result_;
        std::size_t i_;
    };
    const_iterator begin() const noexcept { return const_iterator(this, 0); }
    const_iterator end() const noexcept { return const_iterator(this, count_); }

    /// The C handle (owned by this object).
    const gnntrack_result* get() const noexcept { return handle_.get(); }

private:
    void swap(Result& other) noexcept {
        std::swap(handle_, other.handle_);
        std::swap(count_, other.count_);
        std::swap(offsets_, other.offsets_);
        std::swap(indices_, other.indices_);
        std::swap(fits_, other.fits_);
    }

    detail::Handle<gnntrack_result, gnntrack_result_free> handle_;
    std::size_t count_ = 0;
    const std::size_t* offsets_ = nullptr;
    const std::uint32_t* indices_ = nullptr;
    const gnntrack_fit* fits_ = nullptr;
};

/// A configured tracker (geometry, graph settings, loaded model); move-only. Many threads may
/// call reconstruct() at once.
class Tracker {
public:
    /// Loads the geometry and the model of a configuration (copied: it may change afterwards).
    explicit Tracker(const Config& config) {
        gnntrack_tracker* raw = nullptr;
        detail::check(gnntrack_tracker_new(config.get(), &raw));
        handle_.reset(raw);
    }

    /// The execution provider in use, e.g. "CPU".
    std::string provider() const {
        const char* name = nullptr;
        detail::check(gnntrack_tracker_provider(handle_.get(), &name));
        return name;
    }

    /// Reconstructs one crossing from C columns of n hits (hit_id may be null: ids = indices).
    Result reconstruct(const gnntrack_hits& hits, std::size_t n) const {
        gnntrack_result* raw = nullptr;
        detail::check(gnntrack_reconstruct(handle_.get(), &hits, n, &raw));
        return Result(raw);
    }

    /// Reconstructs one crossing from raw column pointers of n hits.
    Result reconstruct(const double* x, const double* y, const double* z, const std::int32_t* layer,
                       const std::int32_t* stave, std::size_t n,
                       const std::uint64_t* hit_id = nullptr) const {
        gnntrack_hits hits{x, y, z, layer, stave, hit_id};
        return reconstruct(hits, n);
    }

    /// Reconstructs one crossing from vectors of equal length (hit_id empty: ids = indices).
    Result reconstruct(const std::vector<double>& x, const std::vector<double>& y,
                       const std::vector<double>& z, const std::vector<std::int32_t>& layer,
                       const std::vector<std::int32_t>& stave,
                       const std::vector<std::uint64_t>& hit_id = {}) const {
        const std::size_t n = x.size();
        if (y.size() != n || z.size() != n || layer.size() != n || stave.size() != n ||
            (!hit_id.empty() && hit_id.size() != n)) {
            throw Error(GNNTRACK_STATUS_INVALID_ARGUMENT,
                        "hit columns of different lengths (x has " + std::to_string(n) + ")");
        }
        return reconstruct(x.data(), y.data(), z.data(), layer.data(), stave.data(), n,
                           hit_id.empty() ? nullptr : hit_id.data());
    }

    /// The C handle (owned by this object).
    const gnntrack_tracker* get() const noexcept { return handle_.get(); }

private:
    detail::Handle<gnntrack_tracker, gnntrack_tracker_free> handle_;
};

/// What a generic graph model declares (copied from gnntrack_graph_model_info).
struct GraphModelInfo {
    /// What the output rows belong to: nodes, edges or graphs.
    gnntrack_output_level level = GNNTRACK_OUTPUT_LEVEL_NODE;
    /// Logits (returned as probabilities), probabilities or plain values.
    gnntrack_output_kind output_kind = GNNTRACK_OUTPUT_KIND_VALUES;
    std::size_t node_width = 0;
    /// 0 when the model takes no edge features.
    std::size_t edge_width = 0;
    std::size_t output_width = 0;
    bool takes_edges = false;
    std::string name;
    std::string version;
};

/// The output of a graph-model run: rows (nodes, edges or graphs, in input order) of width
/// values each, row-major.
struct GraphOutput {
    std::size_t rows = 0;
    std::size_t width = 0;
    std::vector<float> values;

    /// The values of row i, bounds-checked.
    View<float> row(std::size_t i) const {
        if (i >= rows) {
            throw std::out_of_range("gnntrack::GraphOutput::row: row " + std::to_string(i) +
                                    " >= rows " + std::to_string(rows));
        }
        return View<float>(values.data() + i * width, width);
    }
};

/// A generic graph model (an ONNX graph network with node, edge or graph outputs; see
/// gnntrack_graph_model_load); move-only. Many threads may call run() at once.
class GraphModel {
public:
    /// Loads and checks a model with the default inference settings (CPU).
    explicit GraphModel(const std::string& path) { load(path, nullptr); }

    /// Loads and checks a model with the inference.* keys of a configuration.
    GraphModel(const std::string& path, const Config& config) { load(path, config.get()); }

    /// What the model declares.
    const GraphModelInfo& info() const noexcept { return info_; }

    /// The execution provider in use, e.g. "CPU".
    std::string provider() const {
        const char* name = nullptr;
        detail::check(gnntrack_graph_model_provider(handle_.get(), &name));
        return name;
    }

    /// Runs the model on C input (the caller sets every count and width).
    GraphOutput run(const gnntrack_graph_input& input) const {
        std::size_t size = 0;
        detail::check(gnntrack_graph_model_output_size(handle_.get(), &input, &size));
        GraphOutput out;
        out.width = info_.output_width;
        out.values.resize(size);
        detail::check(gnntrack_graph_model_run(handle_.get(), &input,
                                               size ? out.values.data() : nullptr, size,
                                               &out.rows));
        return out;
    }

    /// Runs the model on vectors: node_features holds n_nodes x node_width values (node after
    /// node), edge_index the 2 x n_edges node indices (sources, then targets), edge_features
    /// n_edges x edge_width values, graph_index the graph of each node (graph-level models,
    /// with n_graphs graphs). Leave empty what the model does not take.
    GraphOutput run(const std::vector<float>& node_features,
                    const std::vector<std::int64_t>& edge_index = {},
                    const std::vector<float>& edge_features = {},
                    const std::vector<std::uint32_t>& graph_index = {},
                    std::size_t n_graphs = 0) const {
        if (node_features.size() % info_.node_width != 0) {
            throw Error(GNNTRACK_STATUS_INVALID_ARGUMENT,
                        "node_features has " + std::to_string(node_features.size()) +
                            " values, not a multiple of node_width " +
                            std::to_string(info_.node_width));
        }
        if (edge_index.size() % 2 != 0) {
            throw Error(GNNTRACK_STATUS_INVALID_ARGUMENT,
                        "edge_index has " + std::to_string(edge_index.size()) +
                            " values, not 2 x n_edges");
        }
        const std::size_t n_nodes = node_features.size() / info_.node_width;
        const std::size_t n_edges = edge_index.size() / 2;
        if (!edge_features.empty() && edge_features.size() != n_edges * info_.edge_width) {
            throw Error(GNNTRACK_STATUS_INVALID_ARGUMENT,
                        "edge_features has " + std::to_string(edge_features.size()) +
                            " values for " + std::to_string(n_edges) + " edges x " +
                            std::to_string(info_.edge_width) + " (edge_width)");
        }
        if (!graph_index.empty() && graph_index.size() != n_nodes) {
            throw Error(GNNTRACK_STATUS_INVALID_ARGUMENT,
                        "graph_index has " + std::to_string(graph_index.size()) +
                            " entries for " + std::to_string(n_nodes) + " nodes");
        }
        gnntrack_graph_input input{};
        input.node_features = node_features.empty() ? nullptr : node_features.data();
        input.n_nodes = n_nodes;
        input.node_width = info_.node_width;
        input.edge_index = edge_index.empty() ? nullptr : edge_index.data();
        input.n_edges = n_edges;
        input.edge_features = edge_features.empty() ? nullptr : edge_features.data();
        input.edge_width = info_.edge_width;
        input.graph_index = graph_index.empty() ? nullptr : graph_index.data();
        input.n_graphs = n_graphs;
        return run(input);
    }

    /// The C handle (owned by this object).
    const gnntrack_graph_model* get() const noexcept { return handle_.get(); }

private:
    void load(const std::string& path, const gnntrack_config* config) {
        gnntrack_graph_model* raw = nullptr;
        detail::check(gnntrack_graph_model_load(path.c_str(), config, &raw));
        handle_.reset(raw);
        gnntrack_graph_info c{};
        detail::check(gnntrack_graph_model_info(raw, &c));
        info_.level = c.level;
        info_.output_kind = c.output_kind;
        info_.node_width = c.node_width;
        info_.edge_width = c.edge_width;
        info_.output_width = c.output_width;
        info_.takes_edges = c.takes_edges;
        info_.name = c.name;
        info_.version = c.version;
    }

    detail::Handle<gnntrack_graph_model, gnntrack_graph_model_free> handle_;
    GraphModelInfo info_;
};

/// A host log sink: level and message (valid during the call only).
using LogFunction = std::function<void(gnntrack_log_level, const char*)>;

namespace detail {

struct LogState {
    std::mutex mutex;
    std::unique_ptr<LogFunction> function;
};

inline LogState& log_state() {
    static LogState state;
    return state;
}

inline void log_trampoline(gnntrack_log_level level, const char* message, void* user_data) {
    try {
        (*static_cast<LogFunction*>(user_data))(level, message);
    } catch (...) {
        // A host logger that throws must not unwind into the library.
    }
}

}  // namespace detail

/// Routes the library's log messages up to max_level to `function` (called from any thread,
/// also concurrently; exceptions it throws are swallowed). An empty function restores the
/// default (stderr, filtered by GNNTRACK_LOG or RUST_LOG).
inline void set_log_callback(LogFunction function,
                             gnntrack_log_level max_level = GNNTRACK_LOG_LEVEL_INFO) {
    detail::LogState& state = detail::log_state();
    std::lock_guard<std::mutex> lock(state.mutex);
    std::unique_ptr<LogFunction> next;
    if (function) {
        next.reset(new LogFunction(std::move(function)));
    }
    detail::check(gnntrack_set_log_callback(next ? detail::log_trampoline : nullptr, next.get(),
                                            static_cast<std::int32_t>(max_level)));
    // The library no longer calls the previous function once the call above has returned.
    state.function = std::move(next);
}

}  // namespace gnntrack

#endif  // GNNTRACK_HPP

// gnntrack Marlin glue: the framework-independent part of the Marlin processor.
//
// Cell-ID mapping (DD4hep layer -> gnntrack layer and stave), gathering of hits from several
// collections into the library's columns, configuration settings from processor parameters,
// and conversion of the straight-line fits into LCIO track states (d0, phi, omega, z0,
// tanLambda and their covariance). No Marlin or LCIO header is used here, so this code is built
// and tested where neither is installed.
#ifndef GNNTRACK_MARLIN_GLUE_HPP
#define GNNTRACK_MARLIN_GLUE_HPP

#include <array>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <gnntrack.h>
#include <gnntrack.hpp>

namespace gnntrack {
namespace glue {

/// A bad input or parameter; the message names the field and value.
class InputError : public std::invalid_argument {
public:
    explicit InputError(const std::string& message) : std::invalid_argument(message) {}
};

/// How cell-ID fields give the gnntrack layer (plane) and stave of a hit.
///
/// Without a stave field: v = layer - layer_offset, plane = v / layers_per_plane and
/// stave = v % layers_per_plane (the LUXE DD4hep description numbers 8 layers = 4 planes x
/// 2 staves). With a stave field: plane = (layer - layer_offset) / layers_per_plane and the stave
/// is that field's value (set layers_per_plane to 1 when the layer field counts planes).
struct CellMapping {
    /// Cell-ID field holding the layer.
    std::string layer_field = "layer";
    /// Cell-ID field holding the stave; empty: the stave comes from the layer.
    std::string stave_field;
    /// DD4hep layers per gnntrack plane (>= 1).
    std::int64_t layers_per_plane = 2;
    /// Value of the layer field of the first layer.
    std::int64_t layer_offset = 0;

    /// Throws InputError for an empty layer field or layers_per_plane outside 1..1024.
    void validate() const;
};

/// A gnntrack layer (plane) and stave.
struct PlaneStave {
    std::int32_t plane;
    std::int32_t stave;
};

/// Maps the decoded field values of one hit (stave_value is ignored without a stave field).
/// Throws InputError naming the field and value when the result is negative or too large.
PlaneStave map_cell(const CellMapping& mapping, std::int64_t layer_value,
                    std::int64_t stave_value = 0);

/// The layer field value of a plane and stave (the inverse of map_cell without a stave field);
/// throws InputError when stave >= layers_per_plane or either is negative.
std::int64_t encode_layer(const CellMapping& mapping, std::int32_t plane, std::int32_t stave);

/// One hit as read from a collection: position (mm), decoded cell-ID values, caller's id.
struct HitRecord {
    double x = 0, y = 0, z = 0;
    /// Value of the layer field.
    std::int64_t layer_value = 0;
    /// Value of the stave field (unused without one).
    std::int64_t stave_value = 0;
    /// Caller's hit id (unique in the event), passed to the library and named in its errors.
    std::uint64_t id = 0;
};

/// Where a gathered hit came from: collection index and element index in it.
struct HitOrigin {
    std::size_t collection;
    std::size_t element;
};

/// The hits of one event as the library's columns, with the origin of each.
struct GatheredHits {
    std::vector<double> x, y, z;
    std::vector<std::int32_t> layer, stave;
    std::vector<std::uint64_t> hit_id;
    std::vector<HitOrigin> origin;

    std::size_t size() const noexcept { return x.size(); }
    bool empty() const noexcept { return x.empty(); }
    void clear() noexcept;
    /// C columns over these vectors (valid until the next change).
    gnntrack_hits columns() const noexcept;
};

/// Appends the hits of one collection, in their order, mapping their cell IDs. On error nothing
/// is appended and InputError names the collection, hit, field and value.
void gather(GatheredHits& out, std::size_t collection_index, const std::string& collection_name,
            const std::vector<HitRecord>& hits, const CellMapping& mapping);

/// Processor parameters that make the tracker configuration. Unset values keep the
/// configuration's (empty strings, negative numbers).
struct ConfigOptions {
    /// TOML configuration file; empty: the defaults.
    std::string file;
    /// `geometry`: preset name or geometry TOML file.
    std::string geometry;
    /// `model`: ONNX model file.
    std::string model;
    /// `inference.provider`: cpu, cuda or auto.
    std::string provider;
    /// `inference.device_id`.
    int device_id = -1;
    /// `inference.intra_threads` (0: onnxruntime's choice).
    int threads = -1;
    /// `tracks.edge_cut`.
    double edge_cut = -1;
    /// `tracks.min_hits`.
    int min_hits = -1;
    /// `key=value` pairs applied last, in order.
    std::vector<std::string> overrides;
};

/// Splits a `key=value` override (blanks around both trimmed); throws InputError otherwise.
std::pair<std::string, std::string> split_override(const std::string& text);

/// The keys and values ConfigOptions sets, in the order they are applied: convenience
/// parameters, then overrides. The model path is quoted as a TOML string.
std::vector<std::pair<std::string, std::string>> config_settings(const ConfigOptions& options);

/// Builds the configuration: the file (when given), then config_settings(). Library errors
/// come as gnntrack::Error with the library's message.
gnntrack::Config make_config(const ConfigOptions& options);

/// LCIO track parameters at a reference point, with their covariance.
struct LcioState {
    /// Signed distance of closest approach in xy, mm.
    double d0 = 0;
    /// Azimuth of the direction at the point of closest approach, rad, in (-pi, pi].
    double phi = 0;
    /// Signed curvature, 1/mm (0: a straight line).
    double omega = 0;
    /// z of the point of closest approach minus the reference point's z, mm.
    double z0 = 0;
    /// dz / ds_xy.
    double tan_lambda = 0;
    /// Reference point, mm.
    std::array<double, 3> reference{};
    /// Lower triangle of the covariance of (d0, phi, omega, z0, tanLambda), row by row.
    std::array<double, 15> covariance{};
};

/// LCIO parameters (d0, phi, omega, z0, tanLambda) of a fitted line at a reference point, for a
/// track moving towards +z. Throws InputError for a non-finite fit or a line along z.
std::array<double, 5> lcio_parameters(const gnntrack_fit& fit, const std::array<double, 3>& reference);

/// Derivatives of lcio_parameters with respect to (x0, tx, y0, ty), reference point fixed.
std::array<std::array<double, 4>, 5> lcio_jacobian(const gnntrack_fit& fit,
                                                   const std::array<double, 3>& reference);

/// The LCIO state of a fit at a reference point: parameters and the fit covariance propagated
/// with lcio_jacobian; omega is 0 with variance omega_variance (0: exactly straight).
LcioState lcio_state(const gnntrack_fit& fit, const std::array<double, 3>& reference,
                     double omega_variance = 0);

/// The LCIO state with the reference point on the fitted line at z (d0 = z0 = 0 there).
LcioState lcio_state_at_z(const gnntrack_fit& fit, double z, double omega_variance = 0);

/// Index of (row, column) in LCIO's lower-triangle covariance (symmetric: either order).
constexpr std::size_t lower_triangle_index(std::size_t row, std::size_t column) {
    return row >= column ? row * (row + 1) / 2 + column : column * (column + 1) / 2 + row;
}

/// One output track: hits (indices into the GatheredHits), fit quality, states.
struct TrackRecord {
    std::vector<std::size_t> hits;
    double chi2 = 0;
    int ndf = 0;
    /// Momentum estimate of the library, GeV (0 when unavailable).
    double p_estimate = 0;
    /// State at the most upstream hit (LCIO TrackState::AtFirstHit).
    LcioState first;
    /// State at the most downstream hit (LCIO TrackState::AtLastHit).
    LcioState last;
};

/// Track records of a library result over the hits it was computed from. Throws InputError
/// when a candidate names a hit outside `hits`.
std::vector<TrackRecord> track_records(const gnntrack::Result& result, const GatheredHits& hits,
                                       double omega_variance = 0);

/// One hit of a hit file.
struct CsvHit {
    std::uint64_t hit_id = 0;
    double x = 0, y = 0, z = 0;
    std::int32_t layer = 0, stave = 0;
    /// True particle (0: noise or no truth column).
    std::uint64_t particle_id = 0;
};

/// The hits of a hit file and its format.
struct HitFile {
    std::vector<CsvHit> hits;
    /// "project" (`gnntrack simulate`) or "luxe" (single-layer geometry, every stave 0).
    std::string format;
};

/// Reads a hit file with the library's reader (gnntrack_hit_file_read): the project format or
/// the LUXE format, exactly as the command-line tool reads them. Throws InputError with the
/// library's message (file, line, column and value).
HitFile read_hit_file(const std::string& path);

/// The hits of read_hit_file(path).
std::vector<CsvHit> read_hits_csv(const std::string& path);

}  // namespace glue
}  // namespace gnntrack

#endif  // GNNTRACK_MARLIN_GLUE_HPP

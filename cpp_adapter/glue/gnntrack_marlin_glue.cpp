// gnntrack Marlin glue: implementation (see gnntrack_marlin_glue.hpp).
#include "gnntrack_marlin_glue.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <limits>
#include <sstream>

namespace gnntrack {
namespace glue {

namespace {

std::string field_text(const std::string& field, std::int64_t value) {
    return "cell ID field `" + field + "` = " + std::to_string(value);
}

std::string trim(const std::string& text) {
    const char* blanks = " \t\r\n";
    const std::size_t begin = text.find_first_not_of(blanks);
    if (begin == std::string::npos) return "";
    return text.substr(begin, text.find_last_not_of(blanks) - begin + 1);
}

// A TOML basic string holding `text`.
std::string toml_string(const std::string& text) {
    std::string quoted = "\"";
    for (char c : text) {
        if (c == '"' || c == '\\') quoted += '\\';
        quoted += c;
    }
    return quoted + "\"";
}

std::string number_text(double value) {
    std::ostringstream out;
    out.precision(std::numeric_limits<double>::max_digits10);
    out << value;
    return out.str();
}

bool finite_fit(const gnntrack_fit& f) {
    const double values[] = {f.z0,         f.x0,         f.y0,         f.tx,         f.ty,
                             f.cov_x[0][0], f.cov_x[0][1], f.cov_x[1][0], f.cov_x[1][1],
                             f.cov_y[0][0], f.cov_y[0][1], f.cov_y[1][0], f.cov_y[1][1]};
    for (double v : values) {
        if (!std::isfinite(v)) return false;
    }
    return true;
}

void check_line(const gnntrack_fit& fit, const std::array<double, 3>& reference) {
    if (!finite_fit(fit) || !std::isfinite(reference[0]) || !std::isfinite(reference[1]) ||
        !std::isfinite(reference[2])) {
        throw InputError("track fit or reference point not finite (x0 = " + number_text(fit.x0) +
                         ", tx = " + number_text(fit.tx) + ", y0 = " + number_text(fit.y0) +
                         ", ty = " + number_text(fit.ty) + ")");
    }
    if (fit.tx == 0 && fit.ty == 0) {
        throw InputError("track fit along the z axis (tx = ty = 0) has no LCIO azimuth");
    }
}

}  // namespace

void CellMapping::validate() const {
    if (layer_field.empty()) {
        throw InputError("cell ID layer field name is empty");
    }
    if (layers_per_plane < 1 || layers_per_plane > 1024) {
        throw InputError("LayersPerPlane = " + std::to_string(layers_per_plane) +
                         ": must be in 1..1024");
    }
}

PlaneStave map_cell(const CellMapping& mapping, std::int64_t layer_value, std::int64_t stave_value) {
    mapping.validate();
    const std::int64_t int32_max = std::numeric_limits<std::int32_t>::max();
    if (layer_value < mapping.layer_offset) {
        throw InputError(field_text(mapping.layer_field, layer_value) + ": below LayerOffset " +
                         std::to_string(mapping.layer_offset));
    }
    // Unsigned difference: layer_value >= layer_offset, so no overflow.
    const std::uint64_t v =
        static_cast<std::uint64_t>(layer_value) - static_cast<std::uint64_t>(mapping.layer_offset);
    const std::uint64_t plane = v / static_cast<std::uint64_t>(mapping.layers_per_plane);
    if (plane > static_cast<std::uint64_t>(int32_max)) {
        throw InputError(field_text(mapping.layer_field, layer_value) + ": layer too large");
    }
    PlaneStave result{static_cast<std::int32_t>(plane), 0};
    if (mapping.stave_field.empty()) {
        result.stave = static_cast<std::int32_t>(v % static_cast<std::uint64_t>(mapping.layers_per_plane));
    } else {
        if (stave_value < 0 || stave_value > int32_max) {
            throw InputError(field_text(mapping.stave_field, stave_value) +
                             ": must be in 0.." + std::to_string(int32_max));
        }
        result.stave = static_cast<std::int32_t>(stave_value);
    }
    return result;
}

std::int64_t encode_layer(const CellMapping& mapping, std::int32_t plane, std::int32_t stave) {
    mapping.validate();
    if (plane < 0) throw InputError("plane = " + std::to_string(plane) + ": must be >= 0");
    if (stave < 0 || stave >= mapping.layers_per_plane) {
        throw InputError("stave = " + std::to_string(stave) + ": must be in 0.." +
                         std::to_string(mapping.layers_per_plane - 1) + " (LayersPerPlane " +
                         std::to_string(mapping.layers_per_plane) + ")");
    }
    return mapping.layer_offset + std::int64_t(plane) * mapping.layers_per_plane + stave;
}

void GatheredHits::clear() noexcept {
    x.clear();
    y.clear();
    z.clear();
    layer.clear();
    stave.clear();
    hit_id.clear();
    origin.clear();
}

gnntrack_hits GatheredHits::columns() const noexcept {
    return gnntrack_hits{x.data(), y.data(), z.data(), layer.data(), stave.data(), hit_id.data()};
}

void gather(GatheredHits& out, std::size_t collection_index, const std::string& collection_name,
            const std::vector<HitRecord>& hits, const CellMapping& mapping) {
    mapping.validate();
    std::vector<PlaneStave> mapped;
    mapped.reserve(hits.size());
    for (std::size_t i = 0; i < hits.size(); ++i) {
        try {
            mapped.push_back(map_cell(mapping, hits[i].layer_value, hits[i].stave_value));
        } catch (const InputError& e) {
            throw InputError("collection `" + collection_name + "`, hit " + std::to_string(i) +
                             " (id " + std::to_string(hits[i].id) + "): " + e.what());
        }
    }
    const std::size_t n = out.size() + hits.size();
    out.x.reserve(n);
    out.y.reserve(n);
    out.z.reserve(n);
    out.layer.reserve(n);
    out.stave.reserve(n);
    out.hit_id.reserve(n);
    out.origin.reserve(n);
    for (std::size_t i = 0; i < hits.size(); ++i) {
        out.x.push_back(hits[i].x);
        out.y.push_back(hits[i].y);
        out.z.push_back(hits[i].z);
        out.layer.push_back(mapped[i].plane);
        out.stave.push_back(mapped[i].stave);
        out.hit_id.push_back(hits[i].id);
        out.origin.push_back(HitOrigin{collection_index, i});
    }
}

std::pair<std::string, std::string> split_override(const std::string& text) {
    const std::size_t eq = text.find('=');
    if (eq == std::string::npos) {
        throw InputError("ConfigOverrides entry `" + text + "`: expected key=value");
    }
    std::pair<std::string, std::string> kv{trim(text.substr(0, eq)), trim(text.substr(eq + 1))};
    if (kv.first.empty()) {
        throw InputError("ConfigOverrides entry `" + text + "`: empty key");
    }
    return kv;
}

std::vector<std::pair<std::string, std::string>> config_settings(const ConfigOptions& options) {
    std::vector<std::pair<std::string, std::string>> settings;
    if (!trim(options.geometry).empty()) {
        settings.emplace_back("geometry", toml_string(trim(options.geometry)));
    }
    if (!options.model.empty()) settings.emplace_back("model", toml_string(options.model));
    if (!options.provider.empty()) {
        settings.emplace_back("inference.provider", trim(options.provider));
    }
    if (options.device_id >= 0) {
        settings.emplace_back("inference.device_id", std::to_string(options.device_id));
    }
    if (options.threads >= 0) {
        settings.emplace_back("inference.intra_threads", std::to_string(options.threads));
    }
    if (options.edge_cut >= 0) settings.emplace_back("tracks.edge_cut", number_text(options.edge_cut));
    if (options.min_hits >= 0) {
        settings.emplace_back("tracks.min_hits", std::to_string(options.min_hits));
    }
    for (const std::string& text : options.overrides) {
        if (trim(text).empty()) continue;
        settings.push_back(split_override(text));
    }
    return settings;
}

gnntrack::Config make_config(const ConfigOptions& options) {
    // Settings are checked before the library is asked, so a bad override names itself.
    const auto settings = config_settings(options);
    gnntrack::Config config;
    if (!options.file.empty()) config.load_file(options.file);
    for (const auto& kv : settings) config.set(kv.first, kv.second);
    return config;
}

std::array<double, 5> lcio_parameters(const gnntrack_fit& fit, const std::array<double, 3>& reference) {
    check_line(fit, reference);
    const double tx = fit.tx, ty = fit.ty;
    const double t2 = tx * tx + ty * ty, t = std::sqrt(t2);
    // The line at the reference z, relative to the reference point.
    const double a = fit.x0 + tx * (reference[2] - fit.z0) - reference[0];
    const double b = fit.y0 + ty * (reference[2] - fit.z0) - reference[1];
    // Point of closest approach in xy: (a, b) + s (tx, ty) / t with s = -(a tx + b ty) / t.
    // LCIO: PCA = reference + d0 (-sin phi, cos phi), z(PCA) = reference z + z0.
    const double d0 = (b * tx - a * ty) / t;
    const double z0 = -(a * tx + b * ty) / t2 + 0.0;  // + 0.0: no -0 on the line
    return {d0, std::atan2(ty, tx), 0.0, z0, 1.0 / t};
}

std::array<std::array<double, 4>, 5> lcio_jacobian(const gnntrack_fit& fit,
                                                   const std::array<double, 3>& reference) {
    check_line(fit, reference);
    const double tx = fit.tx, ty = fit.ty;
    const double t2 = tx * tx + ty * ty, t = std::sqrt(t2), t3 = t2 * t, t4 = t2 * t2;
    const double dz = reference[2] - fit.z0;  // d a / d tx = d b / d ty
    const double a = fit.x0 + tx * dz - reference[0];
    const double b = fit.y0 + ty * dz - reference[1];
    const double p = a * tx + b * ty;
    std::array<std::array<double, 4>, 5> j{};  // columns: x0, tx, y0, ty
    // d0 = (b tx - a ty) / t
    j[0][0] = -ty / t;
    j[0][1] = -ty / t * dz + ty * p / t3;
    j[0][2] = tx / t;
    j[0][3] = tx / t * dz - tx * p / t3;
    // phi = atan2(ty, tx)
    j[1][1] = -ty / t2;
    j[1][3] = tx / t2;
    // omega = 0: no derivatives.
    // z0 = -(a tx + b ty) / t^2
    j[3][0] = -tx / t2;
    j[3][1] = -tx / t2 * dz - a / t2 + 2 * tx * p / t4;
    j[3][2] = -ty / t2;
    j[3][3] = -ty / t2 * dz - b / t2 + 2 * ty * p / t4;
    // tanLambda = 1 / t
    j[4][1] = -tx / t3;
    j[4][3] = -ty / t3;
    return j;
}

LcioState lcio_state(const gnntrack_fit& fit, const std::array<double, 3>& reference,
                     double omega_variance) {
    if (!(omega_variance >= 0) || !std::isfinite(omega_variance)) {
        throw InputError("OmegaVariance = " + number_text(omega_variance) +
                         ": must be finite and >= 0");
    }
    const std::array<double, 5> q = lcio_parameters(fit, reference);
    const auto j = lcio_jacobian(fit, reference);
    // Fit covariance over (x0, tx, y0, ty): block diagonal.
    double c[4][4] = {};
    c[0][0] = fit.cov_x[0][0];
    c[0][1] = fit.cov_x[0][1];
    c[1][0] = fit.cov_x[1][0];
    c[1][1] = fit.cov_x[1][1];
    c[2][2] = fit.cov_y[0][0];
    c[2][3] = fit.cov_y[0][1];
    c[3][2] = fit.cov_y[1][0];
    c[3][3] = fit.cov_y[1][1];
    LcioState s;
    s.d0 = q[0];
    s.phi = q[1];
    s.omega = q[2];
    s.z0 = q[3];
    s.tan_lambda = q[4];
    s.reference = reference;
    for (std::size_t r = 0; r < 5; ++r) {
        for (std::size_t col = 0; col <= r; ++col) {
            double sum = 0;
            for (std::size_t k = 0; k < 4; ++k) {
                for (std::size_t l = 0; l < 4; ++l) sum += j[r][k] * c[k][l] * j[col][l];
            }
            s.covariance[lower_triangle_index(r, col)] = sum;
        }
    }
    s.covariance[lower_triangle_index(2, 2)] = omega_variance;
    return s;
}

LcioState lcio_state_at_z(const gnntrack_fit& fit, double z, double omega_variance) {
    const std::array<double, 3> reference{fit.x0 + fit.tx * (z - fit.z0),
                                          fit.y0 + fit.ty * (z - fit.z0), z};
    return lcio_state(fit, reference, omega_variance);
}

std::vector<TrackRecord> track_records(const gnntrack::Result& result, const GatheredHits& hits,
                                       double omega_variance) {
    std::vector<TrackRecord> tracks;
    tracks.reserve(result.size());
    for (std::size_t i = 0; i < result.size(); ++i) {
        const gnntrack::Candidate c = result[i];
        TrackRecord t;
        t.hits.reserve(c.hits.size());
        double z_first = std::numeric_limits<double>::infinity();
        double z_last = -z_first;
        for (std::uint32_t h : c.hits) {
            if (h >= hits.size()) {
                throw InputError("candidate " + std::to_string(i) + " names hit " +
                                 std::to_string(h) + " of " + std::to_string(hits.size()));
            }
            t.hits.push_back(h);
            z_first = std::min(z_first, hits.z[h]);
            z_last = std::max(z_last, hits.z[h]);
        }
        if (t.hits.empty()) z_first = z_last = c.fit.z0;
        t.chi2 = c.fit.chi2;
        t.ndf = c.fit.ndf;
        t.p_estimate = c.fit.p_estimate;
        t.first = lcio_state_at_z(c.fit, z_first, omega_variance);
        t.last = lcio_state_at_z(c.fit, z_last, omega_variance);
        tracks.push_back(std::move(t));
    }
    return tracks;
}

HitFile read_hit_file(const std::string& path) {
    gnntrack_hit_file* file = nullptr;
    const gnntrack_status status = gnntrack_hit_file_read(path.c_str(), &file);
    if (status != GNNTRACK_STATUS_OK) throw InputError(gnntrack_last_error());
    std::unique_ptr<gnntrack_hit_file, void (*)(gnntrack_hit_file*)> owner(file, gnntrack_hit_file_free);
    gnntrack_hits columns{};
    std::size_t n = 0;
    const std::uint64_t* particle_id = nullptr;
    const char* format = nullptr;
    gnntrack::detail::check(gnntrack_hit_file_columns(file, &columns, &n, &particle_id, &format));
    HitFile out;
    out.format = format;
    out.hits.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
        CsvHit& h = out.hits[i];
        h.hit_id = columns.hit_id[i];
        h.x = columns.x[i];
        h.y = columns.y[i];
        h.z = columns.z[i];
        h.layer = columns.layer[i];
        h.stave = columns.stave[i];
        h.particle_id = particle_id != nullptr ? particle_id[i] : 0;
    }
    return out;
}

std::vector<CsvHit> read_hits_csv(const std::string& path) { return read_hit_file(path).hits; }

}  // namespace glue
}  // namespace gnntrack

// Unit tests of the Marlin glue: cell-ID mapping, hit gathering, configuration settings and the
// conversion of straight-line fits into LCIO track states (checked against hand values and
// finite differences).
#include "gnntrack_marlin_glue.hpp"

#include <cmath>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

namespace glue = gnntrack::glue;

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
    if (!ok) {
        std::cerr << "FAILED: " << what << "\n";
        ++failures;
    }
}

bool near(double a, double b, double tolerance) { return std::fabs(a - b) <= tolerance; }

// Runs `body`, expecting an exception of type E whose message contains every needle.
template <typename E, typename F>
void expect_error(const std::string& what, std::vector<std::string> needles, F body) {
    try {
        body();
        check(false, what + ": no exception");
    } catch (const E& e) {
        std::cout << what << " -> " << e.what() << "\n";
        for (const std::string& needle : needles) {
            check(std::strstr(e.what(), needle.c_str()) != nullptr,
                  what + ": `" + e.what() + "` lacks `" + needle + "`");
        }
    }
}

void test_mapping() {
    glue::CellMapping luxe;  // layer / 2, layer % 2
    for (std::int64_t layer = 0; layer < 8; ++layer) {
        const glue::PlaneStave ps = glue::map_cell(luxe, layer);
        check(ps.plane == layer / 2 && ps.stave == layer % 2,
              "default mapping of layer " + std::to_string(layer));
        check(glue::encode_layer(luxe, ps.plane, ps.stave) == layer,
              "encode_layer inverts map_cell for layer " + std::to_string(layer));
    }
    glue::CellMapping shifted;
    shifted.layer_offset = 1;
    check(glue::map_cell(shifted, 1).plane == 0 && glue::map_cell(shifted, 1).stave == 0 &&
              glue::map_cell(shifted, 4).plane == 1 && glue::map_cell(shifted, 4).stave == 1,
          "LayerOffset 1");
    expect_error<glue::InputError>("layer below the offset", {"`layer` = 0", "LayerOffset 1"},
                                   [&] { glue::map_cell(shifted, 0); });
    expect_error<glue::InputError>("negative layer", {"`layer` = -3"},
                                   [&] { glue::map_cell(luxe, -3); });

    glue::CellMapping explicit_stave;
    explicit_stave.layer_field = "plane";
    explicit_stave.stave_field = "module";
    explicit_stave.layers_per_plane = 1;
    const glue::PlaneStave ps = glue::map_cell(explicit_stave, 3, 1);
    check(ps.plane == 3 && ps.stave == 1, "explicit stave field");
    expect_error<glue::InputError>("bad stave value", {"`module` = -1"},
                                   [&] { glue::map_cell(explicit_stave, 3, -1); });
    expect_error<glue::InputError>("layer beyond int32", {"`plane` = 4294967296"},
                                   [&] { glue::map_cell(explicit_stave, 4294967296LL, 0); });

    glue::CellMapping bad = luxe;
    bad.layers_per_plane = 0;
    expect_error<glue::InputError>("LayersPerPlane 0", {"LayersPerPlane = 0"},
                                   [&] { glue::map_cell(bad, 1); });
    bad = luxe;
    bad.layer_field.clear();
    expect_error<glue::InputError>("empty layer field", {"layer field name is empty"},
                                   [&] { glue::map_cell(bad, 1); });
    expect_error<glue::InputError>("encode stave 2 of 2", {"stave = 2", "LayersPerPlane 2"},
                                   [&] { glue::encode_layer(luxe, 0, 2); });
}

void test_gather() {
    glue::CellMapping mapping;
    const std::vector<glue::HitRecord> first{{1.0, 2.0, 3950.0, 0, 0, 70}, {4.0, 5.0, 3962.0, 1, 0, 71}};
    const std::vector<glue::HitRecord> second{{6.0, 7.0, 4050.0, 3, 0, 5}};
    glue::GatheredHits hits;
    glue::gather(hits, 0, "A", first, mapping);
    glue::gather(hits, 1, "B", second, mapping);
    check(hits.size() == 3, "three hits gathered");
    check(hits.hit_id == std::vector<std::uint64_t>({70, 71, 5}), "caller ids kept, in order");
    check(hits.x == std::vector<double>({1.0, 4.0, 6.0}) && hits.z[2] == 4050.0, "positions kept");
    check(hits.layer == std::vector<std::int32_t>({0, 0, 1}) &&
              hits.stave == std::vector<std::int32_t>({0, 1, 1}),
          "layers and staves mapped");
    check(hits.origin[1].collection == 0 && hits.origin[1].element == 1 &&
              hits.origin[2].collection == 1 && hits.origin[2].element == 0,
          "origins");
    const gnntrack_hits columns = hits.columns();
    check(columns.x == hits.x.data() && columns.hit_id == hits.hit_id.data(), "columns");

    // A bad hit: clear message, nothing appended.
    const std::vector<glue::HitRecord> bad{{0, 0, 4000.0, 2, 0, 8}, {0, 0, 4000.0, -1, 0, 9}};
    expect_error<glue::InputError>("bad hit in a collection",
                                   {"collection `C`", "hit 1 (id 9)", "`layer` = -1"},
                                   [&] { glue::gather(hits, 2, "C", bad, mapping); });
    check(hits.size() == 3 && hits.origin.size() == 3, "a failed gather appends nothing");
    hits.clear();
    check(hits.empty() && hits.origin.empty(), "clear");
}

void test_config() {
    glue::ConfigOptions options;
    check(glue::config_settings(options).empty(), "no parameters, no settings");
    options.model = "/models/a \"b\".onnx";
    options.provider = " cuda ";
    options.device_id = 1;
    options.threads = 2;
    options.edge_cut = 0.25;
    options.min_hits = 4;
    options.overrides = {" tracks.min_hits = 5 ", "", "graph.search=rtree"};
    const auto s = glue::config_settings(options);
    const std::vector<std::pair<std::string, std::string>> expected{
        {"model", "\"/models/a \\\"b\\\".onnx\""},
        {"inference.provider", "cuda"},
        {"inference.device_id", "1"},
        {"inference.intra_threads", "2"},
        {"tracks.edge_cut", "0.25"},
        {"tracks.min_hits", "4"},
        {"tracks.min_hits", "5"},
        {"graph.search", "rtree"}};
    check(s == expected, "settings in order, overrides last");
    expect_error<glue::InputError>("override without =", {"`tracks.min_hits 4`", "key=value"},
                                   [] { glue::split_override("tracks.min_hits 4"); });
    expect_error<glue::InputError>("override without key", {"empty key"},
                                   [] { glue::split_override(" =4"); });

    // The library checks keys and values and names them.
    glue::ConfigOptions library_checked;
    library_checked.min_hits = 3;
    library_checked.overrides = {"tracks.min_hitz=3"};
    expect_error<gnntrack::Error>("unknown key", {"min_hitz"},
                                  [&] { glue::make_config(library_checked); });
    library_checked.overrides = {"tracks.min_hits=4"};
    const std::string toml = glue::make_config(library_checked).to_toml();
    check(toml.find("min_hits = 4") != std::string::npos, "make_config applies the overrides last");
    library_checked.file = "/nonexistent/gnntrack.toml";
    expect_error<gnntrack::Error>("missing file", {"/nonexistent/gnntrack.toml"},
                                  [&] { glue::make_config(library_checked); });
}

gnntrack_fit make_fit(double z0, double x0, double y0, double tx, double ty) {
    gnntrack_fit f{};
    f.z0 = z0;
    f.x0 = x0;
    f.y0 = y0;
    f.tx = tx;
    f.ty = ty;
    f.cov_x[0][0] = 4e-6;
    f.cov_x[0][1] = f.cov_x[1][0] = -3e-9;
    f.cov_x[1][1] = 5e-12;
    f.cov_y[0][0] = 9e-6;
    f.cov_y[0][1] = f.cov_y[1][0] = 2e-9;
    f.cov_y[1][1] = 7e-12;
    f.chi2 = 1.5;
    f.ndf = 4;
    f.n_hits = 4;
    return f;
}

void test_states() {
    // A line at 45 degrees in xy with |(tx, ty)| = 0.5: x = 100 + 0.3 (z - 4000),
    // y = 10 + 0.4 (z - 4000).
    const gnntrack_fit fit = make_fit(4000.0, 100.0, 10.0, 0.3, 0.4);
    const glue::LcioState on_line = glue::lcio_state_at_z(fit, 4100.0);
    check(near(on_line.reference[0], 130.0, 1e-12) && near(on_line.reference[1], 50.0, 1e-12) &&
              on_line.reference[2] == 4100.0,
          "reference point on the line");
    check(near(on_line.d0, 0, 1e-12) && near(on_line.z0, 0, 1e-12), "d0 = z0 = 0 on the line");
    check(!std::signbit(on_line.z0), "z0 = +0, not -0, on the line");
    check(near(on_line.phi, std::atan2(0.4, 0.3), 1e-15), "phi = atan2(ty, tx)");
    check(near(on_line.tan_lambda, 2.0, 1e-15), "tanLambda = 1 / 0.5");
    check(on_line.omega == 0, "omega = 0");

    // Reference point off the line: the origin. In xy the line passes (-1100, -1590) (its point
    // at z = 0) with direction (0.6, 0.8); its closest approach to the origin is
    // (-1100, -1590) + 1932 (0.6, 0.8) = (59.2, -44.4), 74 mm away, on the right of the
    // direction: LCIO's PCA = reference + d0 (-sin phi, cos phi) gives d0 = -74 mm.
    const std::array<double, 3> origin{0, 0, 0};
    const glue::LcioState at_origin = glue::lcio_state(fit, origin);
    const double pca_x = -at_origin.d0 * std::sin(at_origin.phi);
    const double pca_y = at_origin.d0 * std::cos(at_origin.phi);
    check(near(pca_x, 59.2, 1e-9) && near(pca_y, -44.4, 1e-9), "PCA from d0 and phi");
    check(near(at_origin.d0, -74.0, 1e-9), "d0 = -74 mm");
    // z at the PCA: the line reaches xy (59.2, -44.4) at z = 4000 + (59.2 - 100) / 0.3 = 3864.
    check(near(at_origin.z0, 3864.0, 1e-9), "z0 = z of the PCA");
    // The sign flips with the side: a line passing left of the reference.
    const glue::LcioState left = glue::lcio_state(make_fit(4000.0, 0.0, 10.0, 1.0, 0.0), origin);
    check(near(left.d0, 10.0, 1e-12) && near(left.phi, 0.0, 1e-15) && near(left.z0, 4000.0, 1e-9),
          "line y = 10 along +x (x = 0 at z = 4000): d0 = +10, z0 = 4000");

    // Jacobian against central finite differences, at both reference points.
    for (const std::array<double, 3>& ref : {on_line.reference, origin}) {
        const auto j = glue::lcio_jacobian(fit, ref);
        const double steps[4] = {1e-3, 1e-7, 1e-3, 1e-7};
        for (int k = 0; k < 4; ++k) {
            gnntrack_fit plus = fit, minus = fit;
            double* p[4] = {&plus.x0, &plus.tx, &plus.y0, &plus.ty};
            double* m[4] = {&minus.x0, &minus.tx, &minus.y0, &minus.ty};
            *p[k] += steps[k];
            *m[k] -= steps[k];
            const auto qp = glue::lcio_parameters(plus, ref);
            const auto qm = glue::lcio_parameters(minus, ref);
            for (int r = 0; r < 5; ++r) {
                const double numeric = (qp[r] - qm[r]) / (2 * steps[k]);
                check(near(j[r][k], numeric, 1e-6 * (1 + std::fabs(numeric))),
                      "jacobian d q" + std::to_string(r) + " / d p" + std::to_string(k) + " = " +
                          std::to_string(j[r][k]) + ", finite difference " + std::to_string(numeric));
            }
        }
    }

    // Covariance: J C J^T by hand for two entries at the on-line point (d0 and tanLambda).
    const auto j = glue::lcio_jacobian(fit, on_line.reference);
    const double var_d0 = j[0][0] * j[0][0] * fit.cov_x[0][0] + 2 * j[0][0] * j[0][1] * fit.cov_x[0][1] +
                          j[0][1] * j[0][1] * fit.cov_x[1][1] + j[0][2] * j[0][2] * fit.cov_y[0][0] +
                          2 * j[0][2] * j[0][3] * fit.cov_y[0][1] + j[0][3] * j[0][3] * fit.cov_y[1][1];
    check(near(on_line.covariance[glue::lower_triangle_index(0, 0)], var_d0, 1e-15), "var(d0)");
    const double cov_tl_phi = j[4][1] * fit.cov_x[1][1] * j[1][1] + j[4][3] * fit.cov_y[1][1] * j[1][3];
    check(near(on_line.covariance[glue::lower_triangle_index(4, 1)], cov_tl_phi, 1e-20),
          "cov(tanLambda, phi)");
    check(on_line.covariance[glue::lower_triangle_index(2, 2)] == 0 &&
              on_line.covariance[glue::lower_triangle_index(2, 0)] == 0,
          "omega variance 0 and uncorrelated");
    check(glue::lcio_state_at_z(fit, 4100.0, 1e-8).covariance[5] == 1e-8, "OmegaVariance");
    check(glue::lower_triangle_index(0, 0) == 0 && glue::lower_triangle_index(1, 0) == 1 &&
              glue::lower_triangle_index(1, 1) == 2 && glue::lower_triangle_index(4, 4) == 14 &&
              glue::lower_triangle_index(3, 4) == 13,
          "LCIO lower-triangle order");
    for (double v : {on_line.covariance[0], on_line.covariance[2], on_line.covariance[9],
                     on_line.covariance[14]}) {
        check(v > 0, "positive variances");
    }

    expect_error<glue::InputError>("line along z", {"tx = ty = 0"}, [] {
        glue::lcio_state_at_z(make_fit(4000, 1, 1, 0, 0), 4000);
    });
    expect_error<glue::InputError>("NaN fit", {"not finite"}, [] {
        glue::lcio_state_at_z(make_fit(4000, NAN, 1, 0.1, 0), 4000);
    });
    expect_error<glue::InputError>("negative omega variance", {"OmegaVariance = -1"},
                                   [&] { glue::lcio_state_at_z(fit, 4000, -1); });
}

}  // namespace

int main() {
    test_mapping();
    test_gather();
    test_config();
    test_states();
    if (failures) {
        std::cerr << failures << " checks failed\n";
        return 1;
    }
    std::cout << "all checks passed\n";
    return 0;
}

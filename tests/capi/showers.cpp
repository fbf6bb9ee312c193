// The example graph models of models/examples through the C++ wrapper, on the sample of
// simulated showers: all clusters in one run (a graph index per hit) give the accuracies
// measured when the models were trained (with margin), one row per cluster or hit, and the same
// values as one run per cluster.
// usage: showers_cpp EXAMPLES_DIR
#include <gnntrack.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "expect.hpp"
#include "showers_sample.h"

namespace {

using test::check;
using test::failures;

// Measured on the sample when the models were made: 100 % of the clusters, 97.4 % of the hits.
constexpr double MIN_CLUSTER_ACCURACY = 0.90;
constexpr double MIN_HIT_ACCURACY = 0.93;

struct Cluster {
    std::vector<float> features;
    std::vector<std::int64_t> edges;
};

// Cluster c alone, its hits numbered from 0.
Cluster alone(const shower_sample& s, std::size_t c) {
    const std::size_t first = s.first_hit[c], n = s.first_hit[c + 1] - first;
    const std::size_t e = SHOWER_NEIGHBOURS * n, e0 = SHOWER_NEIGHBOURS * first;
    Cluster out;
    out.features.assign(s.features + SHOWER_FEATURES * first,
                        s.features + SHOWER_FEATURES * (first + n));
    out.edges.resize(2 * e);
    for (std::size_t j = 0; j < e; ++j) {
        out.edges[j] = s.edges[e0 + j] - static_cast<std::int64_t>(first);
        out.edges[e + j] = s.edges[s.n_edges + e0 + j] - static_cast<std::int64_t>(first);
    }
    return out;
}

double share(std::size_t right, std::size_t all) { return all ? double(right) / all : 0.0; }

}  // namespace

int main(int argc, char** argv) try {
    if (argc != 2) {
        std::cerr << "usage: " << argv[0] << " EXAMPLES_DIR\n";
        return 2;
    }
    const std::string dir = argv[1];
    shower_sample s;
    if (shower_sample_read((dir + "/showers_sample.csv").c_str(), &s) != 0) return 1;
    const std::vector<float> features(s.features, s.features + SHOWER_FEATURES * s.n_hits);
    const std::vector<std::int64_t> edges(s.edges, s.edges + 2 * s.n_edges);
    const std::vector<std::uint32_t> cluster(s.cluster, s.cluster + s.n_hits);

    // Graph level: electron (0) or hadron (1), all clusters in one run.
    const gnntrack::GraphModel classifier(dir + "/shower_cluster.onnx");
    check(classifier.info().level == GNNTRACK_OUTPUT_LEVEL_GRAPH &&
              classifier.info().node_width == SHOWER_FEATURES &&
              classifier.info().name == "shower_cluster",
          "cluster classifier info");
    const gnntrack::GraphOutput p = classifier.run(features, edges, {}, cluster, s.n_clusters);
    check(p.rows == s.n_clusters && p.width == 1, "one row per cluster");
    std::size_t right = 0;
    for (std::size_t c = 0; c < p.rows; ++c)
        right += (p.values[c] > 0.5f) == (s.cluster_label[c] == 1);
    std::cout << "clusters: " << right << " of " << p.rows << " right\n";
    check(share(right, p.rows) >= MIN_CLUSTER_ACCURACY, "cluster accuracy");

    // Node level: signal (1) or noise (0) per hit.
    const gnntrack::GraphModel tagger(dir + "/shower_hits.onnx");
    check(tagger.info().level == GNNTRACK_OUTPUT_LEVEL_NODE && tagger.info().name == "shower_hits",
          "hit tagger info");
    const gnntrack::GraphOutput q = tagger.run(features, edges);
    check(q.rows == s.n_hits && q.values.size() == s.n_hits, "one row per hit");
    right = 0;
    for (std::size_t i = 0; i < q.rows; ++i) right += (q.values[i] > 0.5f) == (s.hit_signal[i] == 1);
    std::cout << "hits: " << right << " of " << q.rows << " right\n";
    check(share(right, q.rows) >= MIN_HIT_ACCURACY, "hit accuracy");

    // One cluster at a time gives the same values.
    double worst = 0.0;
    for (std::size_t c = 0; c < s.n_clusters; ++c) {
        const Cluster one = alone(s, c);
        const std::vector<std::uint32_t> zeros(one.features.size() / SHOWER_FEATURES, 0);
        const gnntrack::GraphOutput pc = classifier.run(one.features, one.edges, {}, zeros, 1);
        const gnntrack::GraphOutput qc = tagger.run(one.features, one.edges);
        check(pc.rows == 1 && qc.rows == zeros.size(), "rows of one cluster");
        if (pc.rows != 1 || qc.rows != zeros.size()) break;
        worst = std::max(worst, double(std::fabs(pc.values[0] - p.values[c])));
        for (std::size_t r = 0; r < qc.rows; ++r)
            worst = std::max(worst, double(std::fabs(qc.values[r] - q.values[s.first_hit[c] + r])));
    }
    std::cout << "one cluster at a time: largest difference " << worst << "\n";
    check(worst <= 1e-5, "clusters one by one give the same values");
    shower_sample_free(&s);

    if (failures) {
        std::cerr << failures << " check(s) failed\n";
        return 1;
    }
    std::cout << "example graph models through the C++ wrapper: all checks passed\n";
    return 0;
} catch (const gnntrack::Error& e) {
    std::cerr << e.status_name() << ": " << e.what() << "\n";
    return 1;
}

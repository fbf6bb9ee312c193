// Classifies the clusters of models/examples/showers_sample.csv (electron or hadron shower)
// with the example graph model shower_cluster.onnx, all clusters in one run, and prints the
// accuracy. usage: classify_showers MODELS_EXAMPLES_DIR
#include <gnntrack.hpp>

#include <cstdint>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

int main(int argc, char** argv) try {
    const std::string dir = argc > 1 ? argv[1] : "models/examples";
    std::ifstream file(dir + "/showers_sample.csv");
    std::string line;
    std::getline(file, line);  // cluster,label,signal,log_e,dx,dy,depth,n0,...,n5

    // The host's graphs, concatenated: 4 features per hit, an edge from each of the hit's 6
    // nearest neighbours (indices inside its cluster) to the hit, the cluster of each hit.
    std::vector<float> features;
    std::vector<std::int64_t> sources, targets;
    std::vector<std::uint32_t> cluster;
    std::vector<int> label;
    std::vector<std::size_t> first;  // first hit of each cluster
    while (std::getline(file, line)) {
        std::istringstream row(line);
        std::vector<double> v;
        for (std::string cell; std::getline(row, cell, ',');) v.push_back(std::stod(cell));
        if (v.size() != 13) throw std::runtime_error("bad row: " + line);
        const auto c = static_cast<std::uint32_t>(v[0]);
        if (c == label.size()) {
            label.push_back(static_cast<int>(v[1]));
            first.push_back(cluster.size());
        }
        const auto hit = static_cast<std::int64_t>(cluster.size());
        for (int k = 0; k < 6; ++k) {
            sources.push_back(static_cast<std::int64_t>(first[c] + v[7 + k]));
            targets.push_back(hit);
        }
        features.insert(features.end(), v.begin() + 3, v.begin() + 7);
        cluster.push_back(c);
    }
    std::vector<std::int64_t> edges = sources;  // [2, E]: sources, then targets
    edges.insert(edges.end(), targets.begin(), targets.end());

    const gnntrack::GraphModel model(dir + "/shower_cluster.onnx");
    const gnntrack::GraphOutput p = model.run(features, edges, {}, cluster, label.size());
    std::size_t right = 0;
    for (std::size_t c = 0; c < p.rows; ++c) right += (p.values[c] > 0.5f) == (label[c] == 1);
    std::cout << model.info().name << ": " << right << " of " << p.rows
              << " clusters classified right (" << 100.0 * right / p.rows << " %)\n";
    return p.rows == label.size() && p.rows > 0 ? 0 : 1;
} catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
}

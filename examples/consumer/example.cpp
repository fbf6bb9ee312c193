#include <gnntrack.hpp>
#include <cstdint>
#include <iostream>
#include <vector>

int main() try {
    gnntrack::Config config;                   // luxe geometry, bundled model, CPU
    config.set("tracks.min_hits", "3");        // steering parameters arrive as text
    gnntrack::Tracker tracker(config);
    // One positron through the four inner staves (mm); layer and stave come from the readout.
    std::vector<double> x{100.0, 105.28, 110.55, 115.83}, y{0.10, 0.10, 0.11, 0.11};
    std::vector<double> z{3950.0125, 4050.0125, 4150.0125, 4250.0125};
    std::vector<std::int32_t> layer{0, 1, 2, 3}, stave{0, 0, 0, 0};
    gnntrack::Result result = tracker.reconstruct(x, y, z, layer, stave);
    for (const gnntrack::Candidate& c : result)
        std::cout << c.hits.size() << " hits, p = " << c.fit.p_estimate << " GeV\n";
    return result.size() == 1 ? 0 : 1;
} catch (const gnntrack::Error& e) {
    std::cerr << e.status_name() << ": " << e.what() << "\n";
    return 1;
}

// End-to-end test of the Marlin glue with the real library: a simulated crossing is split into
// two "collections" (inner and outer staves) with DD4hep-style layer numbers (plane * 2 +
// stave), gathered, reconstructed and turned into track records, which must agree with a
// reconstruction of the file's own columns and carry sensible LCIO states.
// usage: glue_reconstruct HITS.csv
#include "gnntrack_marlin_glue.hpp"

#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <set>
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

using HitSets = std::set<std::vector<std::uint64_t>>;

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: " << argv[0] << " HITS.csv\n";
        return 2;
    }
    try {
        const std::vector<glue::CsvHit> csv = glue::read_hits_csv(argv[1]);
        check(csv.size() > 1000, "hits read: " + std::to_string(csv.size()));

        // Two collections, each in file order; the DD4hep layer holds plane and stave.
        const glue::CellMapping mapping;  // defaults: layer / 2, layer % 2
        std::vector<glue::HitRecord> collections[2];
        std::map<std::uint64_t, std::uint64_t> particle_of;
        for (const glue::CsvHit& h : csv) {
            glue::HitRecord r;
            r.x = h.x;
            r.y = h.y;
            r.z = h.z;
            r.layer_value = glue::encode_layer(mapping, h.layer, h.stave);
            r.id = h.hit_id;
            if (h.stave > 1) {
                std::cerr << "stave " << h.stave << " in " << argv[1] << ": expected 0 or 1\n";
                return 1;
            }
            collections[h.stave].push_back(r);
            particle_of[h.hit_id] = h.particle_id;
        }
        glue::GatheredHits hits;
        glue::gather(hits, 0, "InnerStaves", collections[0], mapping);
        glue::gather(hits, 1, "OuterStaves", collections[1], mapping);
        check(hits.size() == csv.size(), "all hits gathered");

        glue::ConfigOptions options;
        options.min_hits = 3;
        options.threads = 1;
        gnntrack::Tracker tracker(glue::make_config(options));
        const gnntrack::Result result = tracker.reconstruct(hits.columns(), hits.size());
        const std::vector<glue::TrackRecord> tracks = glue::track_records(result, hits);
        check(tracks.size() == result.size() && !tracks.empty(),
              std::to_string(tracks.size()) + " track records");

        // The same crossing in the file's own order and numbering: the same candidates.
        std::vector<double> x, y, z;
        std::vector<std::int32_t> layer, stave;
        std::vector<std::uint64_t> id;
        for (const glue::CsvHit& h : csv) {
            x.push_back(h.x);
            y.push_back(h.y);
            z.push_back(h.z);
            layer.push_back(h.layer);
            stave.push_back(h.stave);
            id.push_back(h.hit_id);
        }
        const gnntrack::Result direct = tracker.reconstruct(x, y, z, layer, stave, id);
        HitSets from_glue, from_file;
        for (const glue::TrackRecord& t : tracks) {
            std::vector<std::uint64_t> ids;
            for (std::size_t h : t.hits) ids.push_back(hits.hit_id[h]);
            std::sort(ids.begin(), ids.end());
            from_glue.insert(ids);
        }
        for (const gnntrack::Candidate& c : direct) {
            std::vector<std::uint64_t> ids;
            for (std::uint32_t h : c.hits) ids.push_back(id[h]);
            std::sort(ids.begin(), ids.end());
            from_file.insert(ids);
        }
        std::size_t common = 0;
        for (const auto& s : from_glue) common += from_file.count(s);
        std::cout << tracks.size() << " tracks through the glue, " << direct.size()
                  << " from the file's columns, " << common << " identical\n";
        check(tracks.size() == direct.size() && common == from_glue.size(),
              "glue and direct reconstruction give the same candidates");

        // Records: hits with their states; efficiency against the truth.
        std::set<std::uint64_t> found;
        std::map<std::uint64_t, int> hits_of_particle;
        for (const glue::CsvHit& h : csv) {
            if (h.particle_id != 0) ++hits_of_particle[h.particle_id];
        }
        std::size_t bad_states = 0;
        for (const glue::TrackRecord& t : tracks) {
            check(t.hits.size() >= 3, "at least 3 hits");
            check(t.ndf == int(2 * t.hits.size()) - 4, "ndf = 2 n - 4");
            const std::size_t first = t.hits.front(), last = t.hits.back();
            // States sit on the fitted line at the first and last hit's z, near those hits.
            const bool ok =
                t.first.reference[2] == hits.z[first] && t.last.reference[2] == hits.z[last] &&
                std::fabs(t.first.reference[0] - hits.x[first]) < 0.5 &&
                std::fabs(t.last.reference[1] - hits.y[last]) < 0.5 && t.first.d0 == 0 &&
                t.first.z0 == 0 && t.first.tan_lambda > 1 && std::fabs(t.first.phi) < 0.5 &&
                t.first.covariance[0] > 0 && t.first.covariance[14] > 0 &&
                std::fabs(t.first.phi - t.last.phi) < 1e-12;
            if (!ok) ++bad_states;
            std::map<std::uint64_t, int> votes;
            for (std::size_t h : t.hits) ++votes[particle_of[hits.hit_id[h]]];
            for (const auto& v : votes) {
                // A particle is found when a track has >= 3 of its hits and they are the majority.
                if (v.first != 0 && v.second >= 3 && 2 * v.second > int(t.hits.size())) {
                    found.insert(v.first);
                }
            }
        }
        check(bad_states == 0, std::to_string(bad_states) + " tracks with inconsistent states");
        std::size_t reconstructable = 0;
        for (const auto& p : hits_of_particle) reconstructable += p.second >= 3;
        const double efficiency = double(found.size()) / double(reconstructable);
        std::cout << "efficiency " << 100 * efficiency << " % (" << found.size() << " of "
                  << reconstructable << ")\n";
        check(efficiency > 0.95, "efficiency above 95 %");

        // A hit the geometry does not know: the library's error names it.
        std::vector<glue::HitRecord> stray{{100.0, 0.0, 3950.0125, 9, 0, 123456789}};
        glue::GatheredHits bad;
        glue::gather(bad, 0, "Stray", stray, mapping);
        try {
            tracker.reconstruct(bad.columns(), bad.size());
            check(false, "a hit on plane 4 is refused");
        } catch (const gnntrack::Error& e) {
            std::cout << "stray hit -> " << e.what() << "\n";
            check(std::string(e.what()).find("123456789") != std::string::npos,
                  "the error names the hit id");
        }
    } catch (const std::exception& e) {
        std::cerr << "unexpected error: " << e.what() << "\n";
        return 1;
    }
    if (failures) {
        std::cerr << failures << " checks failed\n";
        return 1;
    }
    std::cout << "all checks passed\n";
    return 0;
}

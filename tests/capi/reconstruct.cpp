// Reconstructs a simulated bunch crossing through the C++ wrapper: candidates against truth,
// concurrent reconstruction on one tracker, exceptions, moves and the log callback.
// usage: reconstruct_cpp HITS.csv
#include <gnntrack.hpp>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "expect.hpp"
#include "hits_csv.h"

namespace {

using test::check;
using test::expect_error;
using test::failures;

std::vector<std::vector<std::uint32_t>> hit_lists(const gnntrack::Result& result) {
    std::vector<std::vector<std::uint32_t>> lists;
    for (const gnntrack::Candidate& c : result) lists.push_back(c.hits.to_vector());
    return lists;
}

}  // namespace

int main(int argc, char** argv) {
    static_assert(!std::is_copy_constructible<gnntrack::Tracker>::value, "move-only");
    static_assert(!std::is_copy_constructible<gnntrack::Result>::value, "move-only");
    static_assert(!std::is_copy_constructible<gnntrack::Config>::value, "move-only");
    static_assert(std::is_nothrow_move_constructible<gnntrack::Result>::value, "cheap moves");
    if (argc != 2) {
        std::cerr << "usage: " << argv[0] << " HITS.csv\n";
        return 2;
    }
    gnntrack::check_abi();
    check(gnntrack::version() == GNNTRACK_VERSION, "version " + gnntrack::version());

    // Log messages go to the host's sink, from whatever thread logs them.
    std::mutex log_mutex;
    std::vector<std::string> log_lines;
    gnntrack::set_log_callback(
        [&](gnntrack_log_level level, const char* message) {
            std::lock_guard<std::mutex> lock(log_mutex);
            log_lines.push_back(std::to_string(static_cast<int>(level)) + " " + message);
        },
        GNNTRACK_LOG_LEVEL_INFO);

    gnntrack::Config config = gnntrack::Config::from_string("[tracks]\nmin_hits = 3\n");
    config.set("inference.pool_size", "2");
    check(config.to_toml().find("pool_size = 2") != std::string::npos, "to_toml");
    gnntrack::Tracker tracker(config);
    std::cout << "provider: " << tracker.provider() << "\n";
    {
        std::lock_guard<std::mutex> lock(log_mutex);
        bool ready = false;
        for (const std::string& line : log_lines) ready |= line.find("tracker ready") != std::string::npos;
        check(ready, "the log callback saw `tracker ready`");
    }
    gnntrack::set_log_callback(nullptr);  // back to stderr

    test_hits hits;
    if (test_hits_read(argv[1], &hits) != 0) return 1;
    gnntrack_hits columns{hits.x, hits.y, hits.z, hits.layer, hits.stave, hits.hit_id};

    gnntrack::Result result = tracker.reconstruct(columns, hits.n);
    const gnntrack_times times = result.times();
    const gnntrack_graph_summary graph = result.graph();
    std::cout << hits.n << " hits, " << graph.n_edges << " edges, " << result.size()
              << " candidates in " << 1e3 * times.total << " ms\n";

    // Views: per-candidate hits agree with the compressed arrays, fits with their hits.
    std::size_t total_hits = 0;
    for (std::size_t i = 0; i < result.size(); ++i) {
        gnntrack::Candidate c = result[i];
        check(c.hits.data() == result.indices().data() + result.offsets()[i], "views agree");
        check(c.fit.n_hits == c.hits.size(), "fit n_hits");
        for (std::uint32_t h : c.hits) {
            const double dx = c.fit.x0 + c.fit.tx * (hits.z[h] - c.fit.z0) - hits.x[h];
            check(h < hits.n && dx * dx < 0.25, "hit near its fit");
        }
        total_hits += c.hits.size();
    }
    check(total_hits == result.indices().size(), "indices cover the candidates");
    bool out_of_range = false;
    try {
        result.at(result.size());
    } catch (const std::out_of_range&) {
        out_of_range = true;
    }
    check(out_of_range, "Result::at checks its index");

    const test_score score =
        test_hits_score(&hits, result.size(), result.offsets().data(), result.indices().data());
    const double efficiency = double(score.found) / double(score.reconstructable);
    const double fake_rate = double(score.fakes) / double(score.candidates);
    std::printf("efficiency %.2f %% (%zu of %zu), fake rate %.2f %%\n", 100 * efficiency,
                score.found, score.reconstructable, 100 * fake_rate);
    check(efficiency > 0.9, "efficiency " + std::to_string(efficiency));
    check(fake_rate < 0.05, "fake rate " + std::to_string(fake_rate));

    // Four threads reconstruct the same crossing on one tracker at once: same candidates.
    const auto expected = hit_lists(result);
    std::atomic<int> mismatches{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int repeat = 0; repeat < 3; ++repeat) {
                try {
                    gnntrack::Result mine = tracker.reconstruct(columns, hits.n);
                    if (hit_lists(mine) != expected) ++mismatches;
                } catch (const gnntrack::Error& e) {
                    std::cerr << "thread: " << e.what() << "\n";
                    ++mismatches;
                }
            }
        });
    }
    for (std::thread& t : threads) t.join();
    check(mismatches == 0, std::to_string(mismatches.load()) + " concurrent results differ");

    // Errors carry their status and message; the thread's last error is per thread.
    expect_error("unknown key", GNNTRACK_STATUS_CONFIG, "unknown field `min_hitz`",
                 [&] { config.set("tracks.min_hitz", "3"); });
    std::vector<double> x{100.0}, y{0.0}, z{3950.0125};
    std::vector<std::int32_t> layer{7}, stave{0};
    expect_error("unknown layer", GNNTRACK_STATUS_INVALID_HIT, "`layer` = 7",
                 [&] { tracker.reconstruct(x, y, z, layer, stave); });
    layer = {0, 0};
    expect_error("columns of different lengths", GNNTRACK_STATUS_INVALID_ARGUMENT,
                 "different lengths", [&] { tracker.reconstruct(x, y, z, layer, stave); });
    std::thread other([&] {
        expect_error("empty crossing (other thread)", GNNTRACK_STATUS_EMPTY_INPUT, "`n_hits` = 0",
                     [&] { tracker.reconstruct(columns, 0); });
    });
    other.join();
    check(gnntrack_last_status() == GNNTRACK_STATUS_INVALID_ARGUMENT ||
              gnntrack_last_status() == GNNTRACK_STATUS_INVALID_HIT,
          "this thread's last status is its own");

    // Moves transfer ownership; a moved-from object refuses calls instead of crashing.
    gnntrack::Tracker moved = std::move(tracker);
    check(moved.reconstruct(columns, hits.n).size() == result.size(), "moved tracker works");
    expect_error("moved-from tracker", GNNTRACK_STATUS_NULL_ARGUMENT, "`tracker` is NULL",
                 [&] { tracker.reconstruct(columns, hits.n); });
    gnntrack::Result kept = std::move(result);
    check(kept.size() > 0 && kept.get() != nullptr, "moved result");
    check(result.get() == nullptr && result.empty() && result.indices().empty(),
          "a moved-from result is empty");

    test_hits_free(&hits);
    if (failures) {
        std::cerr << failures << " checks failed\n";
        return 1;
    }
    std::cout << "all checks passed\n";
    return 0;
}

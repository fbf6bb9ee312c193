// Generic graph models through the C++ wrapper: the node- and graph-level test models of
// `make test-models` give the outputs of their known functions, concurrent runs on one model
// agree, and bad input, models of the other kind and broken models throw gnntrack::Error with
// their status and message.
// usage: graph_model_cpp TEST_MODELS_DIR
#include <gnntrack.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "expect.hpp"

namespace {

using test::check;
using test::expect_error;
using test::failures;

bool close_to(const std::vector<float>& got, const std::vector<double>& want) {
    if (got.size() != want.size()) return false;
    for (std::size_t i = 0; i < got.size(); ++i) {
        if (std::fabs(got[i] - want[i]) > 1e-5 * std::fmax(1.0, std::fabs(want[i]))) {
            std::cerr << "value " << i << ": got " << got[i] << ", want " << want[i] << "\n";
            return false;
        }
    }
    return true;
}

// Same numbers as tests/models/make_test_models.py.
const double NODE_W[3][2] = {{0.5, -1.0}, {0.25, 2.0}, {-0.75, 0.125}};
const double GRAPH_W[2] = {2.0, -1.0};

// 6 nodes in 3 graphs, 5 edges.
const std::vector<float> X3 = {0.1f, -0.4f, 0.9f, 0.3f, 0.2f,  -0.7f, -0.5f, 0.6f, 0.0f,
                               0.8f, -0.1f, 0.4f, -0.9f, 0.5f, 0.25f, 1.0f,  2.0f, -3.0f};
const std::vector<float> X2 = {0.1f, -0.4f, 0.9f, 0.3f, 0.2f, -0.7f,
                               -0.5f, 0.6f, 0.0f, 0.8f, -1.0f, 2.0f};
const std::vector<std::int64_t> EDGES = {0, 2, 3, 4, 5, /* targets */ 1, 1, 4, 2, 5};
const std::vector<std::uint32_t> GRAPHS = {2, 2, 0, 0, 0, 1};

std::vector<double> node_reference() {
    const std::size_t n = X3.size() / 3, e = EDGES.size() / 2;
    std::vector<double> h(2 * n, 0.0);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t c = 0; c < 2; ++c)
            for (std::size_t k = 0; k < 3; ++k) h[2 * i + c] += X3[3 * i + k] * NODE_W[k][c];
    std::vector<double> out = h;
    for (std::size_t k = 0; k < e; ++k)
        for (std::size_t c = 0; c < 2; ++c)
            out[2 * EDGES[e + k] + c] += h[2 * EDGES[k] + c];
    return out;
}

std::vector<double> graph_reference(std::size_t n_graphs) {
    const std::size_t n = X2.size() / 2, e = EDGES.size() / 2;
    std::vector<double> out(2 * n_graphs, 0.0), count(n_graphs, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
        out[2 * GRAPHS[i]] += X2[2 * i] * GRAPH_W[0] + X2[2 * i + 1] * GRAPH_W[1];
        count[GRAPHS[i]] += 1;
    }
    for (std::size_t k = 0; k < e; ++k) out[2 * GRAPHS[EDGES[e + k]] + 1] += 1;
    for (std::size_t g = 0; g < n_graphs; ++g) out[2 * g] /= count[g];
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    static_assert(!std::is_copy_constructible<gnntrack::GraphModel>::value, "move-only");
    static_assert(std::is_nothrow_move_constructible<gnntrack::GraphModel>::value, "cheap moves");
    if (argc != 2) {
        std::cerr << "usage: " << argv[0] << " TEST_MODELS_DIR\n";
        return 2;
    }
    gnntrack::check_abi();
    const std::string dir = argv[1];

    // Node level.
    gnntrack::GraphModel node(dir + "/graph_node.onnx");
    check(node.info().level == GNNTRACK_OUTPUT_LEVEL_NODE && node.info().node_width == 3 &&
              node.info().output_width == 2 && node.info().takes_edges &&
              node.info().name == "node-test",
          "node model info");
    check(node.provider() == "CPU", "node model on the CPU");
    gnntrack::GraphOutput out = node.run(X3, EDGES);
    check(out.rows == 6 && out.width == 2 && close_to(out.values, node_reference()),
          "node outputs = x W + incoming x W");
    check(out.row(5).size() == 2 && out.row(5)[1] == out.values[11], "row view");
    bool thrown = false;
    try {
        out.row(6);
    } catch (const std::out_of_range&) {
        thrown = true;
    }
    check(thrown, "row(6) of 6 rows throws std::out_of_range");
    gnntrack::GraphOutput none = node.run(std::vector<float>{}, {});
    check(none.rows == 0 && none.values.empty(), "no nodes, no rows");

    // Graph level, several graphs at once (not sorted by graph).
    gnntrack::Config config;
    config.set("inference.intra_threads", "1").set("inference.pool_size", "2");
    gnntrack::GraphModel graph(dir + "/graph_graph.onnx", config);
    check(graph.info().level == GNNTRACK_OUTPUT_LEVEL_GRAPH && graph.info().output_width == 2,
          "graph model info");
    gnntrack::GraphOutput pooled = graph.run(X2, EDGES, {}, GRAPHS, 3);
    check(pooled.rows == 3 && close_to(pooled.values, graph_reference(3)),
          "graph outputs = [mean x . w, edges in]");

    // Concurrent runs on one model agree with the serial run.
    {
        std::vector<std::thread> threads;
        std::vector<int> same(4, 0);
        for (int t = 0; t < 4; ++t) {
            threads.emplace_back([&, t] {
                bool ok = true;
                for (int k = 0; k < 20; ++k) {
                    ok = ok && graph.run(X2, EDGES, {}, GRAPHS, 3).values == pooled.values;
                }
                same[t] = ok;
            });
        }
        for (std::thread& t : threads) t.join();
        for (int ok : same) check(ok == 1, "concurrent runs equal the serial run");
    }

    // Moves.
    gnntrack::GraphModel moved(std::move(graph));
    check(moved.run(X2, EDGES, {}, GRAPHS, 3).values == pooled.values, "a moved model runs");
    check(moved.get() != nullptr && graph.get() == nullptr, "a moved-from model is empty");

    // Hostile input.
    std::vector<float> nan = X2;
    nan[7] = NAN;
    expect_error("NaN node feature", GNNTRACK_STATUS_INVALID_ARGUMENT,
                 "node feature 1 of node 3 is NaN",
                 [&] { moved.run(nan, EDGES, {}, GRAPHS, 3); });
    std::vector<std::int64_t> far = EDGES;
    far[7] = 6;
    expect_error("edge target out of range", GNNTRACK_STATUS_INVALID_ARGUMENT,
                 "edge 2 refers to node 6, but there are 6 nodes",
                 [&] { moved.run(X2, far, {}, GRAPHS, 3); });
    expect_error("a graph without nodes", GNNTRACK_STATUS_INVALID_ARGUMENT, "graph 3 has no nodes",
                 [&] { moved.run(X2, EDGES, {}, GRAPHS, 4); });
    expect_error("no graph index", GNNTRACK_STATUS_NULL_ARGUMENT, "input->graph_index",
                 [&] { moved.run(X2, EDGES, {}, {}, 3); });
    expect_error("graph index longer than the nodes", GNNTRACK_STATUS_INVALID_ARGUMENT,
                 "graph_index has 6 entries for 5 nodes", [&] {
                     moved.run(std::vector<float>(X2.begin(), X2.end() - 2), {0, 1}, {}, GRAPHS, 3);
                 });
    expect_error("features not a multiple of the width", GNNTRACK_STATUS_INVALID_ARGUMENT,
                 "node_features has 13 values, not a multiple of node_width 3",
                 [&] { node.run(std::vector<float>(13, 0.5f), EDGES); });
    expect_error("odd edge index", GNNTRACK_STATUS_INVALID_ARGUMENT, "not 2 x n_edges",
                 [&] { node.run(X3, {0, 1, 2}); });
    expect_error("edge features for a model without", GNNTRACK_STATUS_INVALID_ARGUMENT,
                 "edge_features has 1 values for 5 edges x 0 (edge_width)",
                 [&] { node.run(X3, EDGES, {1.0f}); });
    gnntrack_graph_input raw{};
    raw.node_features = X3.data();
    raw.n_nodes = 6;
    raw.node_width = 2;
    expect_error("C input with the wrong width", GNNTRACK_STATUS_INVALID_ARGUMENT,
                 "input->node_width = 2, but the model takes 3", [&] { node.run(raw); });

    // Models of the other kind and broken models.
    expect_error("edge classifier as a graph model", GNNTRACK_STATUS_MODEL_CONTRACT,
                 "an edge classifier", [&] { gnntrack::GraphModel(dir + "/linear.onnx"); });
    expect_error("graph model as the tracker's model", GNNTRACK_STATUS_MODEL_CONTRACT,
                 "a generic graph model", [&] {
                     gnntrack::Config c;
                     c.set("model", dir + "/graph_node.onnx");
                     gnntrack::Tracker tracker(c);
                 });
    expect_error("graph index at node level", GNNTRACK_STATUS_MODEL_CONTRACT,
                 "only graph-level models take one",
                 [&] { gnntrack::GraphModel(dir + "/graph_index_at_node_level.onnx"); });
    expect_error("output width mismatch", GNNTRACK_STATUS_MODEL_CONTRACT,
                 "`gnntrack.output_width` = 3",
                 [&] { gnntrack::GraphModel(dir + "/graph_output_width_mismatch.onnx"); });

    if (failures) {
        std::cerr << failures << " check(s) failed\n";
        return 1;
    }
    std::cout << "graph models through the C++ wrapper: all checks passed\n";
    return 0;
}

// gnntrack-lcio-check: checks the output of a Marlin job with GnnTrackProcessor against the
// tracks `gnntrack reconstruct --out` wrote for the same crossings (a test tool, not installed).
//
// usage: gnntrack-lcio-check OUT.slcio TRACKS HITS TRUTH RECO_1.csv [RECO_2.csv ...]
//
// Event i of OUT.slcio is compared with RECO_i.csv (`track_id,hit_id`): every track of the
// collection TRACKS has hits, all of them elements of the TrackerHitPlane collection HITS, and
// finite track states AtFirstHit and AtLastHit; its hits' ids (from the LCIntVec collection
// TRUTH, parallel to HITS, as gnntrack-csv2lcio writes it) form the same hit sets as the
// candidates of RECO_i.csv. The file must have exactly one event per RECO file.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include <EVENT/LCCollection.h>
#include <EVENT/LCEvent.h>
#include <EVENT/LCIntVec.h>
#include <EVENT/Track.h>
#include <EVENT/TrackState.h>
#include <EVENT/TrackerHit.h>
#include <IO/LCReader.h>
#include <IOIMPL/LCFactory.h>

namespace {

using HitSets = std::vector<std::vector<long long>>;

HitSets canonical(std::map<long long, std::vector<long long>> tracks) {
    HitSets sets;
    for (auto& t : tracks) {
        std::sort(t.second.begin(), t.second.end());
        sets.push_back(t.second);
    }
    std::sort(sets.begin(), sets.end());
    return sets;
}

HitSets read_reco(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open " + path);
    std::string line;
    if (!std::getline(in, line) || line != "track_id,hit_id") {
        throw std::runtime_error(path + ": expected the header track_id,hit_id");
    }
    std::map<long long, std::vector<long long>> tracks;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        const auto comma = line.find(',');
        if (comma == std::string::npos) throw std::runtime_error(path + ": bad row `" + line + "`");
        tracks[std::stoll(line.substr(0, comma))].push_back(std::stoll(line.substr(comma + 1)));
    }
    return canonical(tracks);
}

bool finite_state(const EVENT::TrackState* s) {
    if (s == nullptr) return false;
    const float values[5] = {s->getD0(), s->getPhi(), s->getOmega(), s->getZ0(), s->getTanLambda()};
    for (float v : values) {
        if (!std::isfinite(v)) return false;
    }
    for (float v : s->getCovMatrix()) {
        if (!std::isfinite(v)) return false;
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 6) {
        std::cerr << "usage: gnntrack-lcio-check OUT.slcio TRACKS HITS TRUTH RECO_1.csv [RECO_2.csv ...]\n";
        return 2;
    }
    const std::string file = argv[1], tracks_name = argv[2], hits_name = argv[3], truth_name = argv[4];
    const std::vector<std::string> reco(argv + 5, argv + argc);
    int failures = 0;
    try {
        std::unique_ptr<IO::LCReader> reader(IOIMPL::LCFactory::getInstance()->createLCReader());
        reader->open(file);
        std::size_t i = 0;
        for (EVENT::LCEvent* event = reader->readNextEvent(); event != nullptr;
             event = reader->readNextEvent(), ++i) {
            if (i >= reco.size()) throw std::runtime_error(file + ": more events than RECO files");
            EVENT::LCCollection* tracks = event->getCollection(tracks_name);
            EVENT::LCCollection* hits = event->getCollection(hits_name);
            EVENT::LCCollection* truth = event->getCollection(truth_name);
            std::unordered_map<const EVENT::LCObject*, int> index;
            for (int h = 0; h < hits->getNumberOfElements(); ++h) index[hits->getElementAt(h)] = h;
            std::map<long long, std::vector<long long>> found;
            std::size_t linked = 0, bad = 0;
            for (int t = 0; t < tracks->getNumberOfElements(); ++t) {
                const auto* track = dynamic_cast<const EVENT::Track*>(tracks->getElementAt(t));
                const EVENT::TrackerHitVec& track_hits = track->getTrackerHits();
                if (track_hits.empty() || !std::isfinite(track->getChi2()) || track->getNdf() < 0 ||
                    !finite_state(track->getTrackState(EVENT::TrackState::AtFirstHit)) ||
                    !finite_state(track->getTrackState(EVENT::TrackState::AtLastHit))) {
                    ++bad;
                }
                for (const EVENT::TrackerHit* hit : track_hits) {
                    const auto at = index.find(hit);
                    if (at == index.end()) {
                        ++bad;
                        continue;
                    }
                    const auto* ids = dynamic_cast<const EVENT::LCIntVec*>(truth->getElementAt(at->second));
                    found[t].push_back(ids->at(0));
                    ++linked;
                }
            }
            const HitSets expected = read_reco(reco[i]);
            const bool equal = canonical(found) == expected;
            std::cout << "event " << event->getEventNumber() << ": " << tracks->getNumberOfElements()
                      << " tracks, " << linked << " hits linked, " << bad
                      << " tracks without hits or finite states; hit sets "
                      << (equal ? "equal to " : "DIFFER from ") << reco[i] << " ("
                      << expected.size() << " candidates)\n";
            if (!equal || bad > 0 || tracks->getNumberOfElements() == 0) ++failures;
        }
        if (i != reco.size()) {
            std::cout << file << ": " << i << " events, " << reco.size() << " RECO files\n";
            ++failures;
        }
        reader->close();
    } catch (const std::exception& e) {
        std::cerr << "gnntrack-lcio-check: " << e.what() << "\n";
        return 1;
    }
    return failures == 0 ? 0 : 1;
}

// gnntrack-csv2lcio: converts hit files (one bunch crossing per file, in any format the library
// reads: the project CSV of `gnntrack simulate` or the LUXE CSV) into an LCIO file with one event
// per crossing, holding a TrackerHitPlane collection whose cell IDs carry
// layer = plane * LayersPerPlane + stave + LayerOffset (the processor's default mapping), and an
// LCIntVec collection parallel to the hits with {hit_id, particle_id} per hit. Every input is
// read and checked first; the output is written to a temporary file beside it and renamed only
// when everything succeeded, so a bad input leaves no output file.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include <EVENT/LCIO.h>
#include <IMPL/LCCollectionVec.h>
#include <IMPL/LCEventImpl.h>
#include <EVENT/LCIntVec.h>
#include <IMPL/LCRunHeaderImpl.h>
#include <IMPL/TrackerHitPlaneImpl.h>
#include <IO/LCWriter.h>
#include <IOIMPL/LCFactory.h>
#include <UTIL/CellIDEncoder.h>

#include "gnntrack_marlin_glue.hpp"

namespace glue = gnntrack::glue;

namespace {

constexpr double half_pi = 1.57079632679489661923;

const char* usage =
    "usage: gnntrack-csv2lcio [options] OUT.slcio HITS.csv [HITS.csv ...]\n"
    "  HITS.csv: project format (gnntrack simulate) or LUXE format (every hit on stave 0)\n"
    "  --collection NAME      TrackerHitPlane collection (default SiTrackerHits)\n"
    "  --encoding TEXT        cell ID encoding (default system:5,side:-2,layer:6,module:11,sensor:8)\n"
    "  --layer-field NAME     field that takes the layer (default layer)\n"
    "  --layers-per-plane N   layer = plane * N + stave + offset (default 2)\n"
    "  --layer-offset N       (default 0)\n"
    "  --resolution MM        dU = dV of every hit (default 0.005)\n"
    "  --truth NAME           LCIntVec collection {hit_id, particle_id} per hit (default\n"
    "                         GnnTrackHitTruth; empty: none)\n"
    "  --run N                run number (default 0)\n";

struct Options {
    std::string output;
    std::vector<std::string> inputs;
    std::string collection = "SiTrackerHits";
    std::string encoding = "system:5,side:-2,layer:6,module:11,sensor:8";
    glue::CellMapping mapping;
    double resolution = 0.005;
    std::string truth = "GnnTrackHitTruth";
    int run = 0;
};

long long integer(const std::string& option, const std::string& text) {
    char* end = nullptr;
    const long long v = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0') {
        throw glue::InputError(option + " `" + text + "`: not an integer");
    }
    return v;
}

Options parse(int argc, char** argv) {
    Options o;
    std::vector<std::string> positional;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "-h" || a == "--help") {
            std::cout << usage;
            std::exit(0);
        }
        if (a.size() > 2 && a.compare(0, 2, "--") == 0) {
            if (i + 1 >= argc) throw glue::InputError(a + ": needs a value");
            const std::string v = argv[++i];
            if (a == "--collection") o.collection = v;
            else if (a == "--encoding") o.encoding = v;
            else if (a == "--layer-field") o.mapping.layer_field = v;
            else if (a == "--layers-per-plane") o.mapping.layers_per_plane = integer(a, v);
            else if (a == "--layer-offset") o.mapping.layer_offset = integer(a, v);
            else if (a == "--resolution") {
                char* end = nullptr;
                o.resolution = std::strtod(v.c_str(), &end);
                if (v.empty() || *end != '\0' || !(o.resolution > 0)) {
                    throw glue::InputError("--resolution `" + v + "`: must be a number > 0");
                }
            } else if (a == "--truth") o.truth = v;
            else if (a == "--run") o.run = static_cast<int>(integer(a, v));
            else throw glue::InputError("unknown option " + a);
        } else {
            positional.push_back(a);
        }
    }
    if (positional.size() < 2) throw glue::InputError("need OUT.slcio and at least one HITS.csv");
    o.output = positional[0];
    o.inputs.assign(positional.begin() + 1, positional.end());
    o.mapping.validate();
    return o;
}

int to_int(std::uint64_t value, const std::string& what) {
    if (value > static_cast<std::uint64_t>(std::numeric_limits<int>::max())) {
        throw glue::InputError(what + " = " + std::to_string(value) + ": above the int range of LCIntVec");
    }
    return static_cast<int>(value);
}

/// Removes the temporary output unless released.
struct TemporaryFile {
    std::string path;
    bool keep = false;
    ~TemporaryFile() {
        if (!keep && !path.empty()) std::remove(path.c_str());
    }
};

}  // namespace

int main(int argc, char** argv) {
    try {
        const Options o = parse(argc, argv);
        // Read and check every input before anything is written.
        std::vector<glue::HitFile> files;
        files.reserve(o.inputs.size());
        for (const std::string& path : o.inputs) {
            files.push_back(glue::read_hit_file(path));
            for (const glue::CsvHit& h : files.back().hits) {
                try {
                    glue::encode_layer(o.mapping, h.layer, h.stave);
                    if (!o.truth.empty()) {
                        to_int(h.hit_id, "hit_id");
                        to_int(h.particle_id, "particle_id");
                    }
                } catch (const std::exception& e) {
                    throw glue::InputError(path + ", hit " + std::to_string(h.hit_id) + ": " + e.what());
                }
            }
        }

        // LCIO appends .slcio to a name without it: the temporary name keeps the suffix.
        std::string output = o.output;
        const std::string suffix = ".slcio";
        if (output.size() < suffix.size() ||
            output.compare(output.size() - suffix.size(), suffix.size(), suffix) != 0) {
            output += suffix;
        }
        TemporaryFile temporary;
        temporary.path = output.substr(0, output.size() - suffix.size()) + ".partial-" +
                         std::to_string(static_cast<long long>(::getpid())) + suffix;
        std::unique_ptr<IO::LCWriter> writer(IOIMPL::LCFactory::getInstance()->createLCWriter());
        writer->open(temporary.path, EVENT::LCIO::WRITE_NEW);
        auto* header = new IMPL::LCRunHeaderImpl;
        header->setRunNumber(o.run);
        header->setDetectorName("LUXE");
        header->setDescription("gnntrack hit files converted by gnntrack-csv2lcio");
        writer->writeRunHeader(header);
        delete header;

        int event_number = 0;
        for (std::size_t f = 0; f < files.size(); ++f) {
            const std::string& path = o.inputs[f];
            const std::vector<glue::CsvHit>& hits = files[f].hits;
            IMPL::LCEventImpl event;
            event.setRunNumber(o.run);
            event.setEventNumber(event_number++);
            event.setDetectorName("LUXE");
            event.parameters().setValue("GnnTrackSourceFile", path);
            event.parameters().setValue("GnnTrackSourceFormat", files[f].format);

            auto* collection = new IMPL::LCCollectionVec(EVENT::LCIO::TRACKERHITPLANE);
            UTIL::CellIDEncoder<IMPL::TrackerHitPlaneImpl> encoder(o.encoding, collection);
            auto* truth = o.truth.empty() ? nullptr : new IMPL::LCCollectionVec(EVENT::LCIO::LCINTVEC);
            for (const glue::CsvHit& h : hits) {
                auto* hit = new IMPL::TrackerHitPlaneImpl;
                const double position[3] = {h.x, h.y, h.z};
                hit->setPosition(position);
                // Planes perpendicular to z: U along x, V along y (theta, phi).
                hit->setU(static_cast<float>(half_pi), 0.0f);
                hit->setV(static_cast<float>(half_pi), static_cast<float>(half_pi));
                hit->setdU(static_cast<float>(o.resolution));
                hit->setdV(static_cast<float>(o.resolution));
                encoder.reset();
                encoder[o.mapping.layer_field] = glue::encode_layer(o.mapping, h.layer, h.stave);
                encoder.setCellID(hit);
                collection->addElement(hit);
                if (truth) {
                    auto* ids = new EVENT::LCIntVec;
                    ids->push_back(to_int(h.hit_id, "hit_id"));
                    ids->push_back(to_int(h.particle_id, "particle_id"));
                    truth->addElement(ids);
                }
            }
            event.addCollection(collection, o.collection);
            if (truth) event.addCollection(truth, o.truth);
            writer->writeEvent(&event);
            std::cout << path << " (" << files[f].format << " format): " << hits.size()
                      << " hits -> event " << event.getEventNumber() << "\n";
        }
        writer->close();
        if (std::rename(temporary.path.c_str(), output.c_str()) != 0) {
            throw glue::InputError("cannot rename " + temporary.path + " to " + output);
        }
        temporary.keep = true;
        std::cout << output << ": " << files.size() << " events\n";
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "gnntrack-csv2lcio: " << e.what() << "\n" << usage;
        return 1;
    }
}

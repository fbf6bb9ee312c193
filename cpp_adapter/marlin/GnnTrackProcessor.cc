// GnnTrackProcessor: implementation (see GnnTrackProcessor.h).
#include "GnnTrackProcessor.h"

#include <chrono>
#include <cmath>
#include <mutex>
#include <string>

#include <EVENT/LCCollection.h>
#include <EVENT/LCEvent.h>
#include <EVENT/TrackState.h>
#include <EVENT/TrackerHitPlane.h>
#include <Exceptions.h>
#include <IMPL/LCCollectionVec.h>
#include <IMPL/LCFlagImpl.h>
#include <IMPL/TrackImpl.h>
#include <IMPL/TrackStateImpl.h>
#include <UTIL/BitField64.h>
#include <lcio.h>
#include <streamlog/streamlog.h>

namespace glue = gnntrack::glue;

/// The instance that registers the processor type with Marlin.
GnnTrackProcessor aGnnTrackProcessor;

namespace {

// streamlog is not thread-safe; the library may log from its worker threads.
std::mutex& log_mutex() {
    static std::mutex mutex;
    return mutex;
}

void to_streamlog(gnntrack_log_level level, const char* message) {
    std::lock_guard<std::mutex> lock(log_mutex());
    switch (level) {
        case GNNTRACK_LOG_LEVEL_ERROR:
            streamlog_out(ERROR) << "gnntrack: " << message << std::endl;
            break;
        case GNNTRACK_LOG_LEVEL_WARN:
            streamlog_out(WARNING) << "gnntrack: " << message << std::endl;
            break;
        case GNNTRACK_LOG_LEVEL_INFO:
            streamlog_out(MESSAGE) << "gnntrack: " << message << std::endl;
            break;
        default:
            streamlog_out(DEBUG) << "gnntrack: " << message << std::endl;
            break;
    }
}

// The LCIO track state of a glue state (floats, as LCIO stores them).
IMPL::TrackStateImpl* make_state(int location, const glue::LcioState& s) {
    float covariance[15];
    for (std::size_t i = 0; i < 15; ++i) covariance[i] = static_cast<float>(s.covariance[i]);
    const float reference[3] = {static_cast<float>(s.reference[0]), static_cast<float>(s.reference[1]),
                                static_cast<float>(s.reference[2])};
    return new IMPL::TrackStateImpl(location, static_cast<float>(s.d0), static_cast<float>(s.phi),
                                    static_cast<float>(s.omega), static_cast<float>(s.z0),
                                    static_cast<float>(s.tan_lambda), covariance, reference);
}

}  // namespace

GnnTrackProcessor::GnnTrackProcessor() : marlin::Processor("GnnTrackProcessor") {
    _description =
        "gnntrack: GNN track finding for the LUXE positron tracker; TrackerHitPlane collections "
        "in, track candidates (Track, hits attached, straight-line states) out";

    registerInputCollections(lcio::LCIO::TRACKERHITPLANE, "TrackerHitCollectionNames",
                             "TrackerHitPlane collections whose hits are searched together",
                             _inputCollections, std::vector<std::string>{"SiTrackerHits"});
    registerOutputCollection(lcio::LCIO::TRACK, "TrackCollectionName",
                             "Track candidates (hits attached, states AtFirstHit and AtLastHit)",
                             _outputCollection, std::string("TrackCandidates"));

    registerProcessorParameter("ConfigFile", "gnntrack configuration TOML (empty: the defaults)",
                               _configFile, std::string(""));
    registerProcessorParameter("ConfigOverrides",
                               "gnntrack configuration keys as key=value, applied last "
                               "(e.g. tracks.min_hits=4 geometry=luxe-key4hep)",
                               _configOverrides, std::vector<std::string>{});
    registerProcessorParameter("Geometry",
                               "geometry preset (luxe, luxe-key4hep, luxe-sl) or TOML file, key "
                               "`geometry` (empty: configuration's)",
                               _geometry, std::string(""));
    registerProcessorParameter("ModelPath", "ONNX model, key `model` (empty: configuration's)",
                               _modelPath, std::string(""));
    registerProcessorParameter("ExecutionProvider",
                               "cpu, cuda or auto, key `inference.provider` (empty: configuration's)",
                               _executionProvider, std::string(""));
    registerProcessorParameter("DeviceId", "CUDA device, key `inference.device_id` (-1: configuration's)",
                               _deviceId, -1);
    registerProcessorParameter("Threads",
                               "onnxruntime intra-op threads, key `inference.intra_threads` "
                               "(0: onnxruntime's choice, -1: configuration's)",
                               _threads, -1);
    registerProcessorParameter("EdgeCut", "edge score cut, key `tracks.edge_cut` (< 0: configuration's)",
                               _edgeCut, -1.0f);
    registerProcessorParameter("MinHits", "fewest hits of a candidate, key `tracks.min_hits` (-1: configuration's)",
                               _minHits, -1);

    registerProcessorParameter("LayerField", "cell ID field of the layer", _layerField,
                               std::string("layer"));
    registerProcessorParameter("StaveField",
                               "cell ID field of the stave (empty: stave = (layer - LayerOffset) % "
                               "LayersPerPlane)",
                               _staveField, std::string(""));
    registerProcessorParameter("LayersPerPlane",
                               "cell ID layers per gnntrack plane: plane = (layer - LayerOffset) / "
                               "LayersPerPlane",
                               _layersPerPlane, 2);
    registerProcessorParameter("LayerOffset", "value of the layer field on the first layer",
                               _layerOffset, 0);
    registerProcessorParameter("OmegaVariance",
                               "variance of omega in the track states, 1/mm^2 (0: straight line, "
                               "no field in the tracker)",
                               _omegaVariance, 0.0f);
}

void GnnTrackProcessor::init() {
    printParameters();
    try {
        _mapping.layer_field = _layerField;
        _mapping.stave_field = _staveField;
        _mapping.layers_per_plane = _layersPerPlane;
        _mapping.layer_offset = _layerOffset;
        _mapping.validate();
        if (_outputCollection.empty()) throw glue::InputError("TrackCollectionName is empty");
        if (_inputCollections.empty()) throw glue::InputError("TrackerHitCollectionNames is empty");
        if (!(_omegaVariance >= 0)) {
            throw glue::InputError("OmegaVariance = " + std::to_string(_omegaVariance) + ": must be >= 0");
        }

        const bool debug = streamlog::out.would_write<streamlog::DEBUG>();
        gnntrack::set_log_callback(to_streamlog,
                                   debug ? GNNTRACK_LOG_LEVEL_DEBUG : GNNTRACK_LOG_LEVEL_INFO);
        gnntrack::check_abi();

        glue::ConfigOptions options;
        options.file = _configFile;
        options.geometry = _geometry;
        options.model = _modelPath;
        options.provider = _executionProvider;
        options.device_id = _deviceId;
        options.threads = _threads;
        options.edge_cut = _edgeCut;
        options.min_hits = _minHits;
        options.overrides = _configOverrides;
        _tracker.reset(new gnntrack::Tracker(glue::make_config(options)));
        streamlog_out(MESSAGE) << "gnntrack " << gnntrack::version() << " ready on "
                               << _tracker->provider() << std::endl;
    } catch (const std::exception& e) {
        throw lcio::Exception(name() + " (GnnTrackProcessor) init: " + e.what());
    }
    _events = _tracks = _hitsSeen = 0;
    _missing.assign(_inputCollections.size(), 0);
    _seconds = 0;
}

void GnnTrackProcessor::processEvent(lcio::LCEvent* event) {
    const auto start = std::chrono::steady_clock::now();
    auto* output = new IMPL::LCCollectionVec(lcio::LCIO::TRACK);
    IMPL::LCFlagImpl flag(0);
    flag.setBit(lcio::LCIO::TRBIT_HITS);  // store the links to the hits
    output->setFlag(flag.getFlag());
    event->addCollection(output, _outputCollection);
    ++_events;

    const std::string where = name() + " (GnnTrackProcessor), run " +
                              std::to_string(event->getRunNumber()) + " event " +
                              std::to_string(event->getEventNumber()) + ": ";
    std::vector<lcio::LCCollection*> collections;
    _hits.clear();
    try {
        for (std::size_t c = 0; c < _inputCollections.size(); ++c) {
            const std::string& collection_name = _inputCollections[c];
            lcio::LCCollection* collection = nullptr;
            try {
                collection = event->getCollection(collection_name);
            } catch (const lcio::DataNotAvailableException&) {
                // Usually a misspelt name: said once per run, counted in the summary.
                if (_missing[c]++ == 0) {
                    streamlog_out(WARNING) << where << "no collection `" << collection_name
                                           << "` in the event (TrackerHitCollectionNames); events "
                                              "without it get no tracks from it. Collections in "
                                              "this event:";
                    for (const std::string& present : *event->getCollectionNames()) {
                        if (present != _outputCollection) streamlog_out(WARNING) << " " << present;
                    }
                    streamlog_out(WARNING) << std::endl;
                }
                continue;
            }
            if (collection->getTypeName() != lcio::LCIO::TRACKERHITPLANE) {
                throw glue::InputError("collection `" + collection_name + "` holds " +
                                       collection->getTypeName() + ", not " +
                                       lcio::LCIO::TRACKERHITPLANE);
            }
            const int n = collection->getNumberOfElements();
            if (n == 0) {
                streamlog_out(MESSAGE) << where << "collection `" << collection_name << "` is empty"
                                       << std::endl;
                continue;
            }
            const std::string encoding =
                collection->getParameters().getStringVal(lcio::LCIO::CellIDEncoding);
            if (encoding.empty()) {
                throw glue::InputError("collection `" + collection_name +
                                       "` has no CellIDEncoding parameter");
            }
            UTIL::BitField64 decoder(encoding);
            std::size_t layer_index = 0, stave_index = 0;
            for (const std::string* field : {&_mapping.layer_field, &_mapping.stave_field}) {
                if (field->empty()) continue;
                try {
                    (field == &_mapping.layer_field ? layer_index : stave_index) = decoder.index(*field);
                } catch (const lcio::Exception&) {
                    throw glue::InputError("collection `" + collection_name + "`: cell ID field `" +
                                           *field + "` is not in its encoding `" + encoding + "`");
                }
            }
            std::vector<glue::HitRecord> records(static_cast<std::size_t>(n));
            for (int i = 0; i < n; ++i) {
                const auto* hit = dynamic_cast<const lcio::TrackerHitPlane*>(collection->getElementAt(i));
                if (hit == nullptr) {
                    throw glue::InputError("collection `" + collection_name + "`, element " +
                                           std::to_string(i) + " is not a TrackerHitPlane");
                }
                glue::HitRecord& r = records[static_cast<std::size_t>(i)];
                const double* position = hit->getPosition();
                r.x = position[0];
                r.y = position[1];
                r.z = position[2];
                decoder.setValue((static_cast<lcio::long64>(static_cast<std::uint32_t>(hit->getCellID1())) << 32) |
                                 static_cast<std::uint32_t>(hit->getCellID0()));
                r.layer_value = decoder[layer_index].value();
                r.stave_value = _mapping.stave_field.empty() ? 0 : decoder[stave_index].value();
                r.id = static_cast<std::uint32_t>(hit->id());
            }
            glue::gather(_hits, collections.size(), collection_name, records, _mapping);
            collections.push_back(collection);
        }
        _hitsSeen += _hits.size();
        if (_hits.empty()) {
            streamlog_out(MESSAGE) << where << "no hits, no tracks" << std::endl;
            return;
        }

        const gnntrack::Result result = _tracker->reconstruct(_hits.columns(), _hits.size());
        const std::vector<glue::TrackRecord> records =
            glue::track_records(result, _hits, static_cast<double>(_omegaVariance));
        for (const glue::TrackRecord& record : records) {
            auto* track = new IMPL::TrackImpl;
            for (std::size_t h : record.hits) {
                const glue::HitOrigin& o = _hits.origin[h];
                track->addHit(dynamic_cast<lcio::TrackerHit*>(
                    collections[o.collection]->getElementAt(static_cast<int>(o.element))));
            }
            track->setChi2(static_cast<float>(record.chi2));
            track->setNdf(record.ndf);
            const std::size_t first = record.hits.front();
            track->setRadiusOfInnermostHit(
                static_cast<float>(std::hypot(_hits.x[first], _hits.y[first])));
            track->addTrackState(make_state(lcio::TrackState::AtFirstHit, record.first));
            track->addTrackState(make_state(lcio::TrackState::AtLastHit, record.last));
            output->addElement(track);
        }
        _tracks += records.size();
        streamlog_out(DEBUG) << where << _hits.size() << " hits, " << records.size() << " tracks"
                             << std::endl;
    } catch (const std::exception& e) {
        // A configuration or data problem that would recur on every event: stop with the
        // library's (or the glue's) message.
        throw lcio::Exception(where + e.what());
    }
    _seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void GnnTrackProcessor::end() {
    streamlog_out(MESSAGE) << name() << ": " << _events << " events, " << _hitsSeen << " hits, "
                           << _tracks << " tracks, " << (_events ? 1e3 * _seconds / _events : 0.0)
                           << " ms per event" << std::endl;
    for (std::size_t c = 0; c < _missing.size() && c < _inputCollections.size(); ++c) {
        if (_missing[c] > 0) {
            streamlog_out(WARNING) << name() << ": collection `" << _inputCollections[c]
                                   << "` was missing in " << _missing[c] << " of " << _events
                                   << " events" << std::endl;
        }
    }
    _tracker.reset();
    gnntrack::set_log_callback(nullptr);
}

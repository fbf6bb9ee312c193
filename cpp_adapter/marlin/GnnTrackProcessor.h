// GnnTrackProcessor: gnntrack as a Marlin processor. Reads TrackerHitPlane collections, runs
// the GNN track finder on all hits of the event and writes one LCIO Track per candidate, with
// its hits, chi2, ndf and straight-line states at the first and last hit.
#ifndef GNNTRACK_MARLIN_PROCESSOR_H
#define GNNTRACK_MARLIN_PROCESSOR_H

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <marlin/Processor.h>

#include "gnntrack_marlin_glue.hpp"

/// Marlin processor around the gnntrack library (processor type `GnnTrackProcessor`).
class GnnTrackProcessor : public marlin::Processor {
public:
    /// Registers the steering parameters.
    GnnTrackProcessor();
    GnnTrackProcessor(const GnnTrackProcessor&) = delete;
    GnnTrackProcessor& operator=(const GnnTrackProcessor&) = delete;

    /// A new instance for each processor of this type in the steering file.
    marlin::Processor* newProcessor() override { return new GnnTrackProcessor; }

    /// Checks the parameters, builds the configuration and loads the tracker.
    void init() override;
    /// Finds the tracks of one event and adds the output collection.
    void processEvent(lcio::LCEvent* event) override;
    /// Prints a summary and releases the tracker.
    void end() override;

private:
    // Steering parameters.
    std::vector<std::string> _inputCollections{};
    std::string _outputCollection{};
    std::string _configFile{};
    std::vector<std::string> _configOverrides{};
    std::string _geometry{};
    std::string _modelPath{};
    std::string _executionProvider{};
    int _deviceId = -1;
    int _threads = -1;
    float _edgeCut = -1;
    int _minHits = -1;
    std::string _layerField{};
    std::string _staveField{};
    int _layersPerPlane = 2;
    int _layerOffset = 0;
    float _omegaVariance = 0;

    // State.
    gnntrack::glue::CellMapping _mapping{};
    std::unique_ptr<gnntrack::Tracker> _tracker{};
    gnntrack::glue::GatheredHits _hits{};
    std::size_t _events = 0;
    std::size_t _tracks = 0;
    std::size_t _hitsSeen = 0;
    /// Events without each input collection (warned about once per collection).
    std::vector<std::size_t> _missing{};
    double _seconds = 0;
};

#endif  // GNNTRACK_MARLIN_PROCESSOR_H

// SIGTERM/SIGINT without signal handlers: the signals are blocked in every thread and one
// thread collects them with sigwait, so no code runs in signal context (nothing to keep
// async-signal-safe) and gRPC's threads are never interrupted.
#pragma once

#include <chrono>
#include <optional>

namespace framepair {

// Blocks SIGTERM and SIGINT in the calling thread; threads it creates afterwards inherit the
// mask. Call first thing in main, before anything (gRPC, logging, pools) starts a thread --
// a thread created earlier could receive the signal and die with the default action.
void BlockTerminationSignals();

// Waits for SIGTERM or SIGINT (blocked by BlockTerminationSignals) and returns its number.
int WaitForTerminationSignal();
// Like WaitForTerminationSignal, but gives up after `timeout` (std::nullopt).
std::optional<int> WaitForTerminationSignalFor(std::chrono::milliseconds timeout);

}  // namespace framepair

#pragma once
// Winograd convolutions (kernels/include/doppel/kernels/winograd.h) off for a scope: oneDNN's direct
// kernels run, and the switch is back as it was afterwards, also when a test fails.
#include "doppel/kernels/winograd.h"

namespace doppel::testing {

class WinogradOff {
 public:
  WinogradOff() : previous_(winograd_convolutions()) { set_winograd_convolutions(false); }
  ~WinogradOff() { set_winograd_convolutions(previous_); }
  WinogradOff(const WinogradOff&) = delete;
  WinogradOff& operator=(const WinogradOff&) = delete;

 private:
  bool previous_;
};

}  // namespace doppel::testing

// watchdog.h - resets the board if loop() stops running for 16 s (a hung
// Wi-Fi module call, a blocked socket), so a kit worn unattended recovers
// by itself.
#ifndef ECG_WATCHDOG_H
#define ECG_WATCHDOG_H

void watchdog_begin();
// Call at least every 16 s; cheap enough to call on every loop().
void watchdog_feed();
// Resets the board now, through the watchdog: a clean start from power-on
// state (RAM, the NINA module), unlike a fault or a corrupted heap.
[[noreturn]] void watchdog_restart();

#endif  // ECG_WATCHDOG_H

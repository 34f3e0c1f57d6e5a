// secrets.example.h - copy to secrets.h (git-ignored) and fill in.
// The device id and token must match a [devices.<id>] entry of the
// gateway's /etc/ecg-gateway/gateway.toml.
#ifndef ECG_SECRETS_H
#define ECG_SECRETS_H

#define WIFI_SSID "your-wifi"
#define WIFI_PASSWORD "your-wifi-password"

// The Raspberry Pi running ecg-gateway: a fixed IP (or DHCP reservation) is
// the most robust; a name works when the router resolves it.
#define GATEWAY_HOST "192.168.1.50"
#define GATEWAY_PORT 9000

// 1..64 characters of A-Z a-z 0-9 _ . -
#define ECG_DEVICE_ID "kit-0001"
// A long random secret, e.g. from `openssl rand -hex 24` on the Pi.
#define ECG_TOKEN "change-me"

#endif  // ECG_SECRETS_H

#!/bin/sh
# Entry point of the mosquitto service: write the password file from the environment, then
# run the broker (the command given by docker-compose.yml) in place of this shell.
#
# The file is created anew at every start, so a user removed from .env loses access and a
# changed password applies after `docker compose up -d mosquitto`. The directories can be
# moved with MOSQUITTO_AUTH_DIR and MOSQUITTO_DATA_DIR (the tests do that).
set -eu

: "${MQTT_USER:?MQTT_USER must be set (see .env.example)}"
: "${MQTT_PASSWORD:?MQTT_PASSWORD must be set (see .env.example)}"
auth_dir="${MOSQUITTO_AUTH_DIR:-/mosquitto/auth}"
data_dir="${MOSQUITTO_DATA_DIR:-/mosquitto/data}"

case "$MQTT_USER" in
    *:*) echo "entrypoint: MQTT_USER must not contain ':'" >&2; exit 2 ;;
esac

umask 077
mkdir -p "$auth_dir" "$data_dir"
# written beside the final file and renamed, so a broker never reads a half-written file
tmp="$auth_dir/passwd.new"
rm -f "$tmp"
mosquitto_passwd -c -b "$tmp" "$MQTT_USER" "$MQTT_PASSWORD"
chmod 600 "$tmp"

# The broker drops root for the "mosquitto" user and must still read the password file and
# write its persistence database.
if [ "$(id -u)" = 0 ] && id mosquitto >/dev/null 2>&1; then
    chown mosquitto:mosquitto "$tmp" "$auth_dir"
    chown -R mosquitto:mosquitto "$data_dir"
fi
mv -f "$tmp" "$auth_dir/passwd"

if [ "$#" -eq 0 ]; then
    set -- mosquitto -c /mosquitto/config/mosquitto.conf
fi
exec "$@"

#!/bin/sh
# Run by the influxdb:2.x image once, right after its first-start setup (the
# /docker-entrypoint-initdb.d scripts; never again while the influxdb-data volume exists).
# The image exports the ids of what the setup made and points `influx` at the server with
# the admin token.
#
# Maps the setup's bucket, the assessor's own (materialised KPIs), to database
# <bucket>, retention policy "autogen" for InfluxQL. 2.4 and later answer that name through
# an automatic ("virtual") mapping already; an explicit mapping does not depend on that,
# follows the bucket by id, and is what `influx v1 dbrp list` shows, the same way
# `assessor edge provision` maps each factory's bucket.
set -eu
: "${DOCKER_INFLUXDB_INIT_BUCKET:?}" "${DOCKER_INFLUXDB_INIT_BUCKET_ID:?}" "${DOCKER_INFLUXDB_INIT_ORG_ID:?}"
exec influx v1 dbrp create \
    --org-id "$DOCKER_INFLUXDB_INIT_ORG_ID" \
    --bucket-id "$DOCKER_INFLUXDB_INIT_BUCKET_ID" \
    --db "$DOCKER_INFLUXDB_INIT_BUCKET" \
    --rp autogen \
    --default

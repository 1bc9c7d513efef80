#!/bin/sh
# Runs once, after the influxdb:2 image's initial setup (docker-entrypoint-initdb.d).
# Kizuki reads with InfluxQL on /query, which needs a database/retention-policy (DBRP)
# mapping to the bucket. Recent InfluxDB 2 releases add a virtual mapping per bucket;
# an explicit one also works on older 2.x releases.
set -e
bucket_id=$(influx bucket list --name "$DOCKER_INFLUXDB_INIT_BUCKET" --hide-headers | cut -f1)
influx v1 dbrp create --bucket-id "$bucket_id" --db "$DOCKER_INFLUXDB_INIT_BUCKET" \
  --rp autogen --default || echo "DBRP mapping for $DOCKER_INFLUXDB_INIT_BUCKET exists"

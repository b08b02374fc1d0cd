"""The cluster's object store: an S3-compatible server on loopback (moto in server mode).

``object_store()`` starts it with the bucket ``flyte-data`` and yields the pods' settings: Flyte's
own ``FLYTE_AWS_*`` variables (what ``flyte.storage`` reads) and the simulator's raw-data prefix, so
every action's raw-data path is ``s3://flyte-data/raw/<run>/<action>`` as on a cluster.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import cluster_pod

BUCKET = "flyte-data"
STORE = f"s3://{BUCKET}"


@contextlib.contextmanager
def object_store() -> Iterator[dict[str, str]]:
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        creds = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **creds).create_bucket(Bucket=BUCKET)
        yield {
            "FLYTE_AWS_ENDPOINT": endpoint,
            "FLYTE_AWS_ACCESS_KEY_ID": "testing",
            "FLYTE_AWS_SECRET_ACCESS_KEY": "testing",
            cluster_pod.RAW_DATA_ENV: f"{STORE}/raw",
        }
    finally:
        server.stop()

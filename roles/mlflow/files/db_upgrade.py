# The MLflow migration Job's program (mlops.stack mlflow role), run as
# `python -c`. It runs MLflow's own `mlflow db upgrade` and, with basic auth
# on, the auth tables' upgrade, in process: the database URLs, passwords
# included, come from the environment and the auth config file and never
# appear on a command line (a variable reference in a container command
# would put them there, visible in /proc and ps). Migrating the auth tables here, once,
# spares the server replicas racing each other to do it at start.
import configparser
import os

from mlflow.db import upgrade

upgrade.main(args=[os.environ["MLFLOW_BACKEND_STORE_URI"]], standalone_mode=False)

auth_config = os.environ.get("MLFLOW_AUTH_CONFIG_PATH")
if auth_config:
    from mlflow.server.auth.db.cli import upgrade as auth_upgrade

    parser = configparser.ConfigParser()
    if not parser.read(auth_config):
        raise SystemExit("cannot read the auth config %s" % auth_config)
    auth_upgrade.main(args=["--url", parser["mlflow"]["database_uri"]], standalone_mode=False)
print("mlflow database schema is current")

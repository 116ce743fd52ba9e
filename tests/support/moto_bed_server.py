"""moto's server mode with the test bed's ECS scheduler model installed, ELBv2's create
calls idempotent as AWS documents them (elbv2_moto.py), and Application Auto Scaling's
deletes answering as AWS documents them (autoscaling_moto.py).

Run it as moto_server is run: `python moto_bed_server.py -H 127.0.0.1 -p PORT`.
ECS_BED_STEP_SECONDS sets the scheduler's pace (see ecs_model.py).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import autoscaling_moto  # noqa: E402
import ecs_model_moto  # noqa: E402
import elbv2_moto  # noqa: E402
from moto.server import main  # noqa: E402

if __name__ == "__main__":
    ecs_model_moto.install()
    elbv2_moto.install()
    autoscaling_moto.install()
    sys.exit(main(sys.argv[1:]))

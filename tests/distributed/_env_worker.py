"""Prints torchrun's environment as the launcher set it; exits with argv[1] on rank argv[2]
(or sleeps on the others when argv[3] is 'sleep')."""
import json
import os
import sys
import time

keys = ["RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK", "MASTER_ADDR", "MASTER_PORT",
        "TORCHELASTIC_RUN_ID"]
print("ENV " + json.dumps({k: os.environ.get(k) for k in keys}), flush=True)
code, failing = int(sys.argv[1]), int(sys.argv[2])
if int(os.environ["RANK"]) == failing:
    time.sleep(0.5)
    sys.exit(code)
if len(sys.argv) > 3 and sys.argv[3] == "sleep":
    time.sleep(600)

"""Check the fake Vault (vault-kv-model.ts behind vault-kv-server.ts) with hvac, a client written by others.

Usage: python3 vault-kv-hvac-check.py <url> <root token> <stranger token>

The server must hold: a KV v2 mount `team/secrets` with web/app {API_KEY, REGION}, a KV v1 mount `legacy` with web/app
{API_KEY}, and a token (the stranger) whose policy names nothing in team/secrets. Prints one line per check, exits 1
on the first that fails. Run by test/contract/vault-kv.hvac.test.ts, which skips when hvac is not installed.
"""

import sys

import hvac
import hvac.exceptions


def check(name, condition, detail=""):
    if not condition:
        print(f"FAIL {name} {detail}")
        sys.exit(1)
    print(f"ok {name}")


def main():
    url, root, stranger = sys.argv[1:4]
    client = hvac.Client(url=url, token=root)

    health = client.sys.read_health_status(method="GET")
    check("sys/health reports a version", isinstance(health, dict) and health.get("version", "").count(".") >= 2, repr(health))

    # The UI's mount preflight, as `vault kv get` makes it: hvac has no method for it, so its adapter makes the call.
    mount = client.adapter.get("/v1/sys/internal/ui/mounts/team/secrets/web/app")
    data = mount["data"]
    check("ui mounts names the mount with a slash", data["path"] == "team/secrets/", repr(data))
    check("ui mounts says KV v2", data["type"] == "kv" and data["options"] == {"version": "2"}, repr(data))
    legacy = client.adapter.get("/v1/sys/internal/ui/mounts/legacy/web/app")["data"]
    check("ui mounts says KV v1", legacy["path"] == "legacy/" and legacy["options"] == {"version": "1"}, repr(legacy))

    try:
        hvac.Client(url=url, token=stranger).adapter.get("/v1/sys/internal/ui/mounts/team/secrets/web/app")
        check("ui mounts refuses a token with nothing in the mount", False)
    except hvac.exceptions.Forbidden as error:
        check("ui mounts refuses a token with nothing in the mount", "preflight capability check returned 403" in str(error), str(error))

    kv2 = client.secrets.kv.v2
    read = kv2.read_secret_version(path="web/app", mount_point="team/secrets")
    check("kv v2 read", read["data"]["data"]["API_KEY"] != "" and read["data"]["metadata"]["version"] == 1, repr(read["data"]["metadata"]))
    check("kv v2 read carries custom_metadata (Vault 1.9+)", "custom_metadata" in read["data"]["metadata"], repr(read["data"]["metadata"]))
    written = kv2.create_or_update_secret(path="web/app", mount_point="team/secrets", secret={"API_KEY": "x", "REGION": "eu"}, cas=1)
    check("kv v2 cas write", written["data"]["version"] == 2, repr(written))
    try:
        kv2.create_or_update_secret(path="web/app", mount_point="team/secrets", secret={"API_KEY": "y"}, cas=1)
        check("kv v2 cas mismatch is refused", False)
    except hvac.exceptions.InvalidRequest as error:
        check("kv v2 cas mismatch is refused", "check-and-set" in str(error), str(error))

    kv1 = client.secrets.kv.v1
    old = kv1.read_secret(path="web/app", mount_point="legacy")
    check("kv v1 read has no versions", "API_KEY" in old["data"] and "metadata" not in old["data"], repr(old["data"]))
    try:
        kv2.read_secret_version(path="web/app", mount_point="legacy")
        check("a kv v2 read on a kv v1 mount finds nothing", False)
    except hvac.exceptions.InvalidPath:
        check("a kv v2 read on a kv v1 mount finds nothing", True)


if __name__ == "__main__":
    main()

"""How each image is built here: from pinned Debian packages, Go binaries and this repo.

Every recipe names its inputs (:meth:`Recipe.inputs`) before it builds anything, so the
content-addressed reference of an image is known without building it; the Go binaries
are reproducible from their pinned module versions (``-trimpath``), so the pin stands
for the bytes. Root filesystems come from ``mmdebstrap --variant=minbase`` with exact
package versions from ``k8s/versions.toml [debian]``.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from testing import pins, tools
from testing.images import users
from testing.images.archive import ImageConfig, Layer, LayerWriter
from testing.images.errors import ImageError

HERE = Path(__file__).resolve().parent
#: Bump when a recipe changes in a way its listed inputs do not show.
RECIPE_VERSION = "2"  # 2: the Go images run as nonroot (65532)
MMDEBSTRAP_TIMEOUT_S = 1200
COMMAND_TIMEOUT_S = 900
PY_DIRS_SKIP = ("__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache")
PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"  # noqa: S105 - /etc/passwd lines, no secret
    "postgres:x:999:999:PostgreSQL:/var/lib/postgresql:/bin/sh\n"
    "minio:x:1000:1000:MinIO:/tmp:/sbin/nologin\n"
    "app:x:10001:10001:app:/tmp:/sbin/nologin\n"
    "nonroot:x:65532:65532:nonroot:/tmp:/sbin/nologin\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
)
GROUP = (
    "root:x:0:\npostgres:x:999:\nminio:x:1000:\napp:x:10001:\nnonroot:x:65532:\nnogroup:x:65534:\n"
)

Builder = Callable[[Path], tuple[list[Layer], ImageConfig]]


def run(
    argv: list[str],
    *,
    what: str,
    timeout: float = COMMAND_TIMEOUT_S,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> str:
    """Run a build step; failure or overrun is one ImageError line with the output's tail."""
    try:
        done = subprocess.run(
            argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise ImageError(f"{what} ran longer than {timeout:.0f}s and was stopped") from None
    except FileNotFoundError:
        raise ImageError(f"{argv[0]} is not installed (needed for {what})") from None
    if done.returncode != 0:
        gone = _versions_not_found(done.stderr)
        if gone:
            raise ImageError(
                f"{what} failed: the Debian archive no longer has {', '.join(gone)}; set the "
                "version it has now (`apt-cache policy <package>` after `apt-get update`) in "
                "k8s/versions.toml [debian]"
            )
        raise ImageError(f"{what} failed (exit {done.returncode}): {tools.tail(done.stderr, 5)}")
    return done.stdout


_VERSION_NOT_FOUND = re.compile(r"Version '([^']+)' for '([^']+)' was not found")


def _versions_not_found(output: str) -> list[str]:
    """``package=version`` pins apt reported missing (a security update replaced them)."""
    return sorted({f"{m[2]}={m[1]}" for m in _VERSION_NOT_FOUND.finditer(output)})


def _tree_digest(*roots: Path) -> str:
    sha = hashlib.sha256()
    for root in roots:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            if any(part in PY_DIRS_SKIP for part in path.parts) or path.suffix == ".pyc":
                continue
            sha.update(str(path.relative_to(pins.REPO_ROOT)).encode())
            sha.update(hashlib.sha256(path.read_bytes()).digest())
    return sha.hexdigest()


def base_files(layer: LayerWriter) -> None:
    layer.file("/etc/passwd", PASSWD.encode())
    layer.file("/etc/group", GROUP.encode())
    layer.directory("/tmp", 0o1777)  # noqa: S108  # nosec B108 - the image's own /tmp
    certs = Path("/etc/ssl/certs/ca-certificates.crt")
    if certs.is_file():
        layer.file("/etc/ssl/certs/ca-certificates.crt", certs.read_bytes())


@dataclass(frozen=True)
class Recipe:
    key: str
    name: str
    inputs: Callable[[], list[str]]
    build: Callable[[Path], tuple[list[Layer], ImageConfig]]


# --- static binaries ----------------------------------------------------------------------


def _go_inputs(tool: str) -> Callable[[], list[str]]:
    def inputs() -> list[str]:
        spec = tools.known_tools()[tool]
        return [spec.module_spec, ",".join(spec.install_specs)]

    return inputs


def _go_image(
    tool: str, entrypoint: list[str]
) -> Callable[[Path], tuple[list[Layer], ImageConfig]]:
    def build(work: Path) -> tuple[list[Layer], ImageConfig]:
        binary = tools.resolve(tool)
        layer = LayerWriter(work / "layer.tar")
        base_files(layer)
        layer.file(f"/usr/bin/{tool}", binary.read_bytes(), 0o755)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp"}  # noqa: S108  # nosec B108 - inside the image
        return [layer.close()], ImageConfig(entrypoint=entrypoint, env=env, user=users.NONROOT)

    return build


def _pause(work: Path) -> tuple[list[Layer], ImageConfig]:
    binary = work / "pause"
    run(
        ["gcc", "-static", "-Os", "-s", "-o", str(binary), str(HERE / "pause.c")],
        what="compiling pause.c (gcc -static)",
    )
    layer = LayerWriter(work / "layer.tar")
    layer.file("/pause", binary.read_bytes(), 0o755)
    return [layer.close()], ImageConfig(entrypoint=["/pause"], user="65535:65535")


def _busybox_path() -> Path:
    found = Path("/bin/busybox")
    if not found.is_file() or "static" not in run(
        ["dpkg-query", "-W", "-f=${Package}", "busybox-static"], what="dpkg-query busybox-static"
    ):
        raise ImageError("busybox-static is not installed: `apt-get install busybox-static`")
    return found


def _helper_inputs() -> list[str]:
    version = run(
        ["dpkg-query", "-W", "-f=${Version}", "busybox-static"], what="dpkg-query busybox-static"
    )
    return [f"busybox-static={version}"]


def _helper(work: Path) -> tuple[list[Layer], ImageConfig]:
    layer = LayerWriter(work / "layer.tar")
    base_files(layer)
    layer.file("/bin/busybox", _busybox_path().read_bytes(), 0o755)
    for applet in ("sh", "mkdir", "rm", "rmdir", "chmod", "chown", "ls", "cat", "echo", "test"):
        layer.symlink(f"/bin/{applet}", "busybox")
    return [layer.close()], ImageConfig(cmd=["/bin/sh"], env={"PATH": "/bin"})


# --- Debian root filesystems ----------------------------------------------------------


def debian(key: str) -> str:
    return pins.pin("debian", key)


def sources() -> list[str]:
    suite, main, security = debian("suite"), debian("mirror"), debian("security_mirror")
    return [
        f"deb {main} {suite} main",
        f"deb {main} {suite}-updates main",
        f"deb {security} {suite}-security main",
    ]


def rootfs(
    work: Path,
    packages: list[str],
    *,
    hooks: tuple[str, ...] = (),
    customize: tuple[str, ...] = (),
) -> Layer:
    """A minbase Debian root filesystem with ``packages`` (exact versions), as a layer.

    ``hooks`` run before the packages are installed, ``customize`` after.
    """
    if shutil.which("mmdebstrap") is None:
        raise ImageError("mmdebstrap is not installed: `apt-get install mmdebstrap`")
    out = work / "rootfs.tar"
    argv = [
        "mmdebstrap",
        "--quiet",
        "--variant=minbase",
        "--mode=root",
        "--format=tar",
        f"--include={','.join(packages)}",
        "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-exclude=/usr/share/man/*",
        "--dpkgopt=path-exclude=/usr/share/locale/*",
        '--customize-hook=rm -rf "$1"/var/cache/apt "$1"/var/lib/apt/lists',
        *(f"--essential-hook={hook}" for hook in hooks),
        *(f"--customize-hook={hook}" for hook in customize),
        debian("suite"),
        str(out),
        *sources(),
    ]
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "SOURCE_DATE_EPOCH": "0", "LANG": "C.UTF-8"}
    run(argv, what=f"mmdebstrap {' '.join(packages)}", timeout=MMDEBSTRAP_TIMEOUT_S, env=env)
    return Layer(out)


#: As the official image: SIGINT is PostgreSQL's fast shutdown (SIGTERM's smart shutdown
#: waits for every client to leave, so a deleted pod would sit out its grace period).
POSTGRES_STOP_SIGNAL = "SIGINT"


def _postgres_inputs() -> list[str]:
    return [
        *sources(),
        debian("postgresql"),
        _tree_digest(HERE / "postgres-entrypoint.sh"),
        f"stop-signal={POSTGRES_STOP_SIGNAL}",
    ]


def _postgres(work: Path) -> tuple[list[Layer], ImageConfig]:
    # The official image's uid/gid 999, in place before the package's postinst looks it up.
    hooks = (
        "echo 'postgres:x:999:999:PostgreSQL:/var/lib/postgresql:/bin/sh' >> \"$1\"/etc/passwd",
        "echo 'postgres:x:999:' >> \"$1\"/etc/group",
        'mkdir -p "$1"/etc/postgresql-common',
        "echo 'create_main_cluster = false' > \"$1\"/etc/postgresql-common/createcluster.conf",
    )
    base = rootfs(work, [debian("postgresql")], hooks=hooks)
    layer = LayerWriter(work / "entry.tar")
    layer.file(
        "/usr/local/bin/docker-entrypoint.sh", (HERE / "postgres-entrypoint.sh").read_bytes(), 0o755
    )
    layer.directory("/var/lib/postgresql/data", 0o700, 999, 999)
    layer.directory("/var/run/postgresql", 0o2775, 999, 999)
    config = ImageConfig(
        entrypoint=["/usr/local/bin/docker-entrypoint.sh"],
        cmd=["postgres"],
        env={
            "PATH": "/usr/lib/postgresql/15/bin:/usr/local/bin:/usr/bin:/bin",
            "PGDATA": "/var/lib/postgresql/data",
            "LANG": "C.UTF-8",
        },
        user="999:999",
        ports=["5432/tcp"],
        stop_signal=POSTGRES_STOP_SIGNAL,
    )
    return [base, layer.close()], config


# --- Python images: Debian's python3.11 plus the locked wheels -------------------------


def _uv() -> str:
    found = shutil.which("uv")
    if found is None:
        raise ImageError("uv is not on PATH: it installs the locked wheels into the image")
    return found


def _python_inputs(
    groups: tuple[str, ...], trees: tuple[str, ...], packages: tuple[str, ...] = ()
) -> Callable[[], list[str]]:
    def inputs() -> list[str]:
        roots = [pins.REPO_ROOT / "uv.lock", pins.REPO_ROOT / "pyproject.toml"]
        roots += [pins.REPO_ROOT / tree for tree in trees]
        packaged = [debian("python"), *(debian(p) for p in packages)]
        return [*sources(), *packaged, ",".join(groups), _tree_digest(*roots)]

    return inputs


def _python_image(
    groups: tuple[str, ...],
    trees: tuple[str, ...],
    *,
    project: bool,
    entrypoint: list[str] | None,
    cmd: list[str],
    packages: tuple[str, ...] = (),
) -> Builder:
    def build(work: Path) -> tuple[list[Layer], ImageConfig]:
        packaged = [debian("python"), debian("ca-certificates"), *(debian(p) for p in packages)]
        base = rootfs(work, packaged)
        requirements = work / "requirements.txt"
        run(
            [
                _uv(),
                "export",
                "--locked",
                "--no-default-groups",
                "--no-emit-project",
                *(f"--group={g}" for g in groups),
                "--format=requirements-txt",
                f"--output-file={requirements}",
            ],
            what="uv export of the locked requirements",
            cwd=pins.REPO_ROOT,
        )
        site = work / "site-packages"
        target = [
            "--target",
            str(site),
            "--python-platform",
            "x86_64-manylinux_2_36",
            "--python-version",
            "3.11",
        ]
        run(
            [
                _uv(),
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--require-hashes",
                "-r",
                str(requirements),
                *target,
            ],
            what="installing the locked wheels",
            cwd=work,
        )
        if project:
            run(
                [_uv(), "pip", "install", "--quiet", "--no-deps", str(pins.REPO_ROOT), *target],
                what="installing the project (for its pytest plugin entry point)",
                cwd=work,
            )
        layer = LayerWriter(work / "app.tar")
        base_files(layer)
        layer.symlink("/usr/local/bin/python", "/usr/bin/python3.11")
        layer.tree(site, "/app/site-packages", skip=PY_DIRS_SKIP)
        for tree in trees:
            layer.tree(pins.REPO_ROOT / tree, f"/app/{tree}", skip=PY_DIRS_SKIP)
        for name in ("pyproject.toml",):
            layer.file(f"/app/{name}", (pins.REPO_ROOT / name).read_bytes())
        config = ImageConfig(
            entrypoint=entrypoint,
            cmd=cmd,
            env={
                "PATH": "/usr/local/bin:/usr/bin:/bin",
                "PYTHONPATH": "/app:/app/site-packages",
                "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONUNBUFFERED": "1",
                "HOME": "/tmp",  # noqa: S108  # nosec B108 - inside the image (an emptyDir in the pod)
            },
            user="10001:10001",
            workdir="/app",
            ports=["8080/tcp"],
        )
        return [base, layer.close()], config

    return build


#: Debian packages of the test-runner image: the browser the dashboard checks drive, and
#: libatomic1, which the Node.js that Playwright's driver ships with links against.
RUNNER_PACKAGES = ("chromium", "libatomic1")

RECIPES: dict[str, Recipe] = {
    r.key: r
    for r in (
        Recipe("pause", "pause", lambda: [_tree_digest(HERE / "pause.c")], _pause),
        Recipe("coredns", "coredns", _go_inputs("coredns"), _go_image("coredns", ["coredns"])),
        Recipe(
            "local-path-provisioner",
            "local-path-provisioner",
            _go_inputs("local-path-provisioner"),
            _go_image("local-path-provisioner", ["local-path-provisioner"]),
        ),
        Recipe("local-path-helper", "local-path-helper", _helper_inputs, _helper),
        Recipe("minio", "minio", _go_inputs("minio"), _go_image("minio", ["minio"])),
        Recipe("minio-mc", "mc", _go_inputs("mc"), _go_image("mc", ["mc"])),
        Recipe("postgres", "postgres", _postgres_inputs, _postgres),
        Recipe(
            "demo",
            "demo",
            _python_inputs(("demo",), ("demo",)),
            _python_image(
                ("demo",),
                ("demo",),
                project=False,
                entrypoint=["python", "-m", "demo"],
                cmd=["run"],
            ),
        ),
        Recipe(
            "tests",
            "tests",
            _python_inputs(("test",), ("demo", "testing", "tests"), RUNNER_PACKAGES),
            _python_image(
                ("test",),
                ("demo", "testing", "tests"),
                project=True,
                entrypoint=None,
                cmd=["python", "-m", "testing.runner", "shard"],
                packages=RUNNER_PACKAGES,
            ),
        ),
    )
}


def content_tag(key: str) -> str:
    """The first 12 hex digits of a digest over the recipe's inputs."""
    recipe = RECIPES[key]
    sha = hashlib.sha256(f"{RECIPE_VERSION}\0{key}\0".encode())
    for item in recipe.inputs():
        sha.update(item.encode() + b"\0")
    return sha.hexdigest()[:12]


def scratch() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="ktp-image-", dir=tools.cache_dir())

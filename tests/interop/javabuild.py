"""Compile the Java interop client with Debian's grpc-java jars (no Maven: none is reachable).

The classpath lists the individual ``netty-*.jar`` files because Debian's ``netty-all.jar`` is
empty; the geronimo annotation jar (``javax.annotation.Generated`` in the generated stubs) is
needed at compile time only.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).parents[2]
JARS = Path("/usr/share/java")
RUNTIME_JARS = [
    "grpc-api", "grpc-core", "grpc-context", "grpc-netty", "grpc-protobuf", "grpc-protobuf-lite",
    "grpc-stub", "protobuf", "guava", "perfmark-api",
    "netty-buffer", "netty-codec", "netty-codec-http", "netty-codec-http2", "netty-codec-socks",
    "netty-common", "netty-handler", "netty-handler-proxy", "netty-resolver", "netty-transport",
    "netty-transport-native-unix-common",
]  # fmt: skip
COMPILE_ONLY_JARS = ["geronimo-annotation-1.3-spec"]
PLUGINS = ("/usr/bin/grpc_java_plugin", "/usr/bin/protoc-gen-grpc-java")
SETUP_HINT = "run tests/interop/setup.sh (installs Debian's grpc-java packages)"


def grpc_java_plugin() -> str | None:
    return next((p for p in PLUGINS if Path(p).is_file()), None)


def missing_toolchain() -> str | None:
    """Why the Java client cannot be built here, or ``None`` when everything is present."""
    for tool in ("javac", "java", "protoc"):
        if shutil.which(tool) is None:
            return f"`{tool}` not found; {SETUP_HINT}"
    if grpc_java_plugin() is None:
        return f"the protoc grpc-java plugin is missing; {SETUP_HINT}"
    absent = [j for j in RUNTIME_JARS + COMPILE_ONLY_JARS if not (JARS / f"{j}.jar").is_file()]
    if absent:
        return f"jars missing from {JARS}: {', '.join(absent)}; {SETUP_HINT}"
    return None


def runtime_classpath(classes: Path) -> str:
    return ":".join([str(classes), *(str(JARS / f"{j}.jar") for j in RUNTIME_JARS)])


def build(out: Path) -> Path:
    """Generate the stubs from the contract proto and compile the client; returns the classes."""
    gen, classes = out / "gen", out / "classes"
    gen.mkdir(parents=True, exist_ok=True)
    classes.mkdir(parents=True, exist_ok=True)
    plugin = grpc_java_plugin()
    schemas = ROOT / "schemas"
    subprocess.run(
        ["protoc", f"--plugin=protoc-gen-grpc-java={plugin}", f"--java_out={gen}",
         f"--grpc-java_out={gen}", f"-I{schemas}", str(schemas / "agent_bridge.proto")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    sources = [str(p) for p in gen.rglob("*.java")]
    sources.append(str(ROOT / "tests" / "interop" / "java" / "BridgeClient.java"))
    compile_cp = ":".join(str(JARS / f"{j}.jar") for j in RUNTIME_JARS + COMPILE_ONLY_JARS)
    subprocess.run(
        ["javac", "-nowarn", "-encoding", "UTF-8", "-d", str(classes), "-cp", compile_cp,
         *sources],
        check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    return classes

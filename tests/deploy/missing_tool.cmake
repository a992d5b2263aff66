# Fails the deploy tests with a clear message when a tool they need is not on the machine.
message(FATAL_ERROR "deploy tests need these tools, which were not found when CMake configured:"
  "${MISSING}. Install them (node: scripts/install-deps.sh; kubectl with its built-in "
  "kustomize: from your Kubernetes distribution) and re-run cmake.")

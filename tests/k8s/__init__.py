"""The real Kubernetes 1.1.2 control plane for the tests and the rehearsal: its binaries from
../shared/k8s-1.1.2, started from the cluster repo's rendered user data, and the one thing no
binary here can do (a node runtime) as a stand-in over the real API."""

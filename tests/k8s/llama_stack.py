"""A LLaMA Stack server as a neighbour would run it: the foreign Deployment the
otel_collector role patches (tests of the role and the brown-field install)."""

RESTRICTED = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def llama_stack_deployment(ns, env, extra_containers=()):
    """Deployment llama-stack in *ns*: its server container with *env*, then *extra_containers*."""
    server = {
        "name": "server",
        "image": "docker.io/llamastack/distribution-ollama:0.2.23",
        "args": ["--port", "8321"],
        "env": list(env),
        "ports": [{"containerPort": 8321}],
        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
        "securityContext": dict(RESTRICTED),
    }
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "llama-stack", "namespace": ns, "labels": {"app": "llama-stack"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "llama-stack"}},
            "template": {
                "metadata": {"labels": {"app": "llama-stack"}},
                "spec": {
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 1001,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [server] + list(extra_containers),
                },
            },
        },
    }

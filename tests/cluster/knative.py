"""Knative Serving's real controller, webhook and autoscaler as local pods.

``KnativePodRunner`` is ``isolated_pods.IsolatedPodRunner`` (the kubelet for
the pods of one upstream Deployment, each pod in a network namespace of its
own) for Knative's processes:

* they bind the same ports (8008 profiling, 9090 metrics, 8080 probes /
  autoscaler websocket): as pods they never collide;
* the container's ``env`` read from the pod includes ``status.podIP``
  fieldRefs (``POD_IP``);
* the webhook's readinessProbe is HTTPS, and Knative answers a kubelet
  probe on the autoscaler's websocket port;
* no cainjector work: Knative's webhook issues its own serving certificate
  (Secret ``webhook-certs``) and patches ``caBundle`` and the rules of its
  webhook configurations itself.

Binaries: tools/testbins/knative/build.sh (``knative-controller``,
``knative-webhook``, ``knative-autoscaler``).
"""
import itertools
from pathlib import Path

from .isolated_pods import IsolatedPodRunner

NAMESPACE = "knative-serving"
#: (label selector kwok leaves alone, container, binary name); the labels
#: are unique to Knative's pods among everything the stack installs
#: (cert-manager's webhook is app=webhook too, hence role=webhook).
COMPONENTS = {
    "controller": ("app=controller", "controller", "knative-controller"),
    "webhook": ("role=webhook", "webhook", "knative-webhook"),
    "autoscaler": ("app=autoscaler", "autoscaler", "knative-autoscaler"),
}
LOCAL_PODS = [sel for sel, _c, _b in COMPONENTS.values()]


class KnativePodRunner(IsolatedPodRunner):
    """Runs one Knative component (``controller``, ``webhook``, ``autoscaler``)."""

    # KServe's runner takes addresses from the start of LOCAL_POD_NET.
    ips = itertools.count(100)

    def __init__(self, cluster, component, binary, workdir, manifest):
        selector, container, _bin = COMPONENTS[component]
        super().__init__(cluster, binary, Path(workdir) / component, NAMESPACE, selector, container, manifest,
                         name="knative-" + component)


def runners(cluster, bindir_find, workdir, manifest, components=("webhook", "controller", "autoscaler")):
    """One runner per component; ``bindir_find(name)`` locates the binaries."""
    return [KnativePodRunner(cluster, c, bindir_find(COMPONENTS[c][2]), workdir, manifest) for c in components]

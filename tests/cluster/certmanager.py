"""cert-manager's real controller, webhook and cainjector as local pods.

``CertManagerPodRunner`` is ``isolated_pods.IsolatedPodRunner`` (the kubelet
for the pods of one upstream Deployment, each pod in a network namespace of
its own: the three processes all serve metrics on ``:9402``) for the three
Deployments of cert-manager's release manifest, all played by one binary
with subcommands (tools/testbins/cert-manager,
``$MLOPS_CACHE/bin/cert-manager``):

* the container's args and env are read from the pod, i.e. from the
  manifest as the certmanager role applied it, and ``$(POD_NAMESPACE)``
  references in the args are expanded from the env as kubelet does;
* the controller and cainjector have no readinessProbe: ready once their
  process runs, as on a real cluster;
* nothing of cainjector's job is done here: the webhook issues its own
  serving certificate from a CA it keeps in the Secret
  ``cert-manager-webhook-ca`` (``--dynamic-serving-*`` flags), and the real
  cainjector copies that CA into the ``caBundle`` of the webhook
  configurations annotated ``cert-manager.io/inject-ca-from-secret``.
"""
import itertools
from pathlib import Path

from .isolated_pods import IsolatedPodRunner

NAMESPACE = "cert-manager"
#: kwok leaves every pod of the release alone (one label shared by the three).
LOCAL_PODS = ["app.kubernetes.io/instance=cert-manager"]
#: component -> (pod selector, container name); the subcommand is the component.
COMPONENTS = {
    "controller": ("app.kubernetes.io/instance=cert-manager,app.kubernetes.io/component=controller",
                   "cert-manager-controller"),
    "webhook": ("app.kubernetes.io/instance=cert-manager,app.kubernetes.io/component=webhook",
                "cert-manager-webhook"),
    "cainjector": ("app.kubernetes.io/instance=cert-manager,app.kubernetes.io/component=cainjector",
                   "cert-manager-cainjector"),
}


class CertManagerPodRunner(IsolatedPodRunner):
    """Runs one cert-manager component (``controller``, ``webhook``, ``cainjector``)."""

    # KServe's runner takes addresses from .10 up, Knative's from .100 up.
    ips = itertools.count(200)

    def __init__(self, cluster, component, binary, workdir, manifest):
        selector, container = COMPONENTS[component]
        super().__init__(cluster, binary, Path(workdir) / component, NAMESPACE, selector, container, manifest,
                         name="cert-manager-" + component)
        self.component = component

    def argv(self, args):
        return [self.binary, self.component] + args


def runners(cluster, binary, workdir, manifest, components=("webhook", "cainjector", "controller")):
    """One runner per cert-manager Deployment, all running ``binary``."""
    return [CertManagerPodRunner(cluster, c, binary, workdir, manifest) for c in components]

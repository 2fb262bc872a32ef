// Command cert-manager runs cert-manager's controller, webhook or cainjector
// (the first argument) from the github.com/cert-manager/cert-manager module,
// for the mlops.stack tests (tests/cluster/controllers.py).
//
// Upstream builds each component from a module of its own under cmd/ that the
// Go module proxy does not serve. This main wires the main module's packages
// the way those commands do (cmd/controller/app, cmd/webhook/app,
// cmd/cainjector/app of the same release): the same configuration types,
// defaults and validation, the same flag names, the same servers, leader
// election and controllers. Only the flags listed here are accepted; any
// other flag is an error, so a manifest that starts using one is noticed.
//
// The module path lies under github.com/cert-manager/cert-manager so that it
// may import that module's internal packages, as upstream's cmd modules do.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apiext "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/wait"
	kscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	cliflag "k8s.io/component-base/cli/flag"
	apireg "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	cainjectorconfig "github.com/cert-manager/cert-manager/internal/apis/config/cainjector"
	cainjectorscheme "github.com/cert-manager/cert-manager/internal/apis/config/cainjector/scheme"
	cainjectorvalidation "github.com/cert-manager/cert-manager/internal/apis/config/cainjector/validation"
	config "github.com/cert-manager/cert-manager/internal/apis/config/controller"
	controllerscheme "github.com/cert-manager/cert-manager/internal/apis/config/controller/scheme"
	defaults "github.com/cert-manager/cert-manager/internal/apis/config/controller/v1alpha1"
	controllervalidation "github.com/cert-manager/cert-manager/internal/apis/config/controller/validation"
	webhookvalidation "github.com/cert-manager/cert-manager/internal/apis/config/webhook/validation"
	cmdutil "github.com/cert-manager/cert-manager/internal/cmd/util"
	"github.com/cert-manager/cert-manager/internal/controller/feature"
	cmwebhook "github.com/cert-manager/cert-manager/internal/webhook"
	cainjectorv1alpha1 "github.com/cert-manager/cert-manager/pkg/apis/config/cainjector/v1alpha1"
	controllerv1alpha1 "github.com/cert-manager/cert-manager/pkg/apis/config/controller/v1alpha1"
	cmscheme "github.com/cert-manager/cert-manager/pkg/client/clientset/versioned/scheme"
	"github.com/cert-manager/cert-manager/pkg/controller"
	"github.com/cert-manager/cert-manager/pkg/controller/cainjector"
	shimgatewaycontroller "github.com/cert-manager/cert-manager/pkg/controller/certificate-shim/gateways"
	"github.com/cert-manager/cert-manager/pkg/healthz"
	dnsutil "github.com/cert-manager/cert-manager/pkg/issuer/acme/dns/util"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/server"
	"github.com/cert-manager/cert-manager/pkg/util"
	utilfeature "github.com/cert-manager/cert-manager/pkg/util/feature"
	webhookoptions "github.com/cert-manager/cert-manager/pkg/webhook/options"

	// The controllers register themselves through the defaults package
	// above; the issuers, as in upstream's cmd/controller/app/start.go:
	_ "github.com/cert-manager/cert-manager/pkg/controller/acmechallenges"
	_ "github.com/cert-manager/cert-manager/pkg/controller/acmeorders"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificate-shim/ingresses"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/acme"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/vault"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/venafi"
)

const usage = "usage: cert-manager controller|webhook|cainjector [flags of that component]"

func main() {
	ctx, exit := cmdutil.SetupExitHandler(context.Background(), cmdutil.GracefulShutdown)
	defer exit() // may call os.Exit, so deferred first
	logf.InitLogs()
	defer logf.FlushLogs()
	ctx = logf.NewContext(ctx, logf.Log)

	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		cmdutil.SetExitCodeValue(2)
		return
	}
	var err error
	switch os.Args[1] {
	case "controller":
		err = controllerMain(logf.NewContext(ctx, logf.Log, "controller"), os.Args[2:])
	case "webhook":
		err = webhookMain(logf.NewContext(ctx, logf.Log, "webhook"), os.Args[2:])
	case "cainjector":
		err = cainjectorMain(logf.NewContext(ctx, logf.Log, "cainjector"), os.Args[2:])
	case "version":
		fmt.Println(util.AppVersion)
	default:
		err = fmt.Errorf("unknown component %q; %s", os.Args[1], usage)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		cmdutil.SetExitCode(err)
	}
}

func parse(fs *pflag.FlagSet, args []string, gates map[string]bool) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	return utilfeature.DefaultMutableFeatureGate.SetFromMap(gates)
}

func leaderFlags(fs *pflag.FlagSet, enabled *bool, ns *string, lease, renew, retry *time.Duration) {
	fs.BoolVar(enabled, "leader-elect", *enabled, "perform leader election")
	fs.StringVar(ns, "leader-election-namespace", *ns, "namespace of the leader election lease")
	fs.DurationVar(lease, "leader-election-lease-duration", *lease, "leader election lease duration")
	fs.DurationVar(renew, "leader-election-renew-deadline", *renew, "leader election renew deadline")
	fs.DurationVar(retry, "leader-election-retry-period", *retry, "leader election retry period")
}

// ---- controller (upstream: cmd/controller/app)

func controllerMain(ctx context.Context, args []string) error {
	scheme, _, err := controllerscheme.NewSchemeAndCodecs()
	if err != nil {
		return err
	}
	versioned := &controllerv1alpha1.ControllerConfiguration{}
	scheme.Default(versioned)
	c := &config.ControllerConfiguration{}
	if err := scheme.Convert(versioned, c, nil); err != nil {
		return err
	}
	fs := pflag.NewFlagSet("controller", pflag.ContinueOnError)
	fs.StringVar(&c.APIServerHost, "master", c.APIServerHost, "API server address")
	fs.StringVar(&c.KubeConfig, "kubeconfig", c.KubeConfig, "kubeconfig path (default: in-cluster)")
	fs.Float32Var(&c.KubernetesAPIQPS, "kube-api-qps", c.KubernetesAPIQPS, "API QPS")
	fs.IntVar(&c.KubernetesAPIBurst, "kube-api-burst", c.KubernetesAPIBurst, "API burst")
	fs.StringVar(&c.ClusterResourceNamespace, "cluster-resource-namespace", c.ClusterResourceNamespace, "namespace of ClusterIssuer resources")
	fs.StringVar(&c.Namespace, "namespace", c.Namespace, "limit cert-manager to one namespace")
	le := &c.LeaderElectionConfig
	leaderFlags(fs, &le.Enabled, &le.Namespace, &le.LeaseDuration, &le.RenewDeadline, &le.RetryPeriod)
	fs.StringSliceVar(&c.Controllers, "controllers", c.Controllers, "controllers to enable: *, name, -name; all: "+strings.Join(defaults.AllControllers, ", "))
	h := &c.ACMEHTTP01Config
	fs.StringVar(&h.SolverImage, "acme-http01-solver-image", h.SolverImage, "ACME HTTP01 solver image")
	fs.StringVar(&h.SolverResourceRequestCPU, "acme-http01-solver-resource-request-cpu", h.SolverResourceRequestCPU, "")
	fs.StringVar(&h.SolverResourceRequestMemory, "acme-http01-solver-resource-request-memory", h.SolverResourceRequestMemory, "")
	fs.StringVar(&h.SolverResourceLimitsCPU, "acme-http01-solver-resource-limits-cpu", h.SolverResourceLimitsCPU, "")
	fs.StringVar(&h.SolverResourceLimitsMemory, "acme-http01-solver-resource-limits-memory", h.SolverResourceLimitsMemory, "")
	fs.BoolVar(&h.SolverRunAsNonRoot, "acme-http01-solver-run-as-non-root", h.SolverRunAsNonRoot, "")
	fs.StringSliceVar(&h.SolverNameservers, "acme-http01-solver-nameservers", h.SolverNameservers, "")
	fs.BoolVar(&c.ClusterIssuerAmbientCredentials, "cluster-issuer-ambient-credentials", c.ClusterIssuerAmbientCredentials, "")
	fs.BoolVar(&c.IssuerAmbientCredentials, "issuer-ambient-credentials", c.IssuerAmbientCredentials, "")
	s := &c.IngressShimConfig
	fs.StringSliceVar(&s.DefaultAutoCertificateAnnotations, "auto-certificate-annotations", s.DefaultAutoCertificateAnnotations, "")
	fs.StringSliceVar(&s.ExtraCertificateAnnotations, "extra-certificate-annotations", []string{}, "")
	fs.StringVar(&s.DefaultIssuerName, "default-issuer-name", s.DefaultIssuerName, "")
	fs.StringVar(&s.DefaultIssuerKind, "default-issuer-kind", s.DefaultIssuerKind, "")
	fs.StringVar(&s.DefaultIssuerGroup, "default-issuer-group", s.DefaultIssuerGroup, "")
	d := &c.ACMEDNS01Config
	fs.StringSliceVar(&d.RecursiveNameservers, "dns01-recursive-nameservers", d.RecursiveNameservers, "")
	fs.BoolVar(&d.RecursiveNameserversOnly, "dns01-recursive-nameservers-only", d.RecursiveNameserversOnly, "")
	fs.DurationVar(&d.CheckRetryPeriod, "dns01-check-retry-period", d.CheckRetryPeriod, "")
	fs.BoolVar(&c.EnableCertificateOwnerRef, "enable-certificate-owner-ref", c.EnableCertificateOwnerRef, "")
	fs.BoolVar(&c.EnableGatewayAPI, "enable-gateway-api", c.EnableGatewayAPI, "")
	fs.StringSliceVar(&c.CopiedAnnotationPrefixes, "copied-annotation-prefixes", c.CopiedAnnotationPrefixes, "")
	fs.Var(cliflag.NewMapStringBool(&c.FeatureGates), "feature-gates", "feature gates")
	fs.IntVar(&c.NumberOfConcurrentWorkers, "concurrent-workers", c.NumberOfConcurrentWorkers, "")
	fs.IntVar(&c.MaxConcurrentChallenges, "max-concurrent-challenges", c.MaxConcurrentChallenges, "")
	fs.StringVar(&c.MetricsListenAddress, "metrics-listen-address", c.MetricsListenAddress, "")
	fs.StringVar(&c.HealthzListenAddress, "internal-healthz-listen-address", c.HealthzListenAddress, "")
	fs.DurationVar(&le.HealthzTimeout, "internal-healthz-leader-election-timeout", le.HealthzTimeout, "")
	logf.AddFlags(&c.Logging, fs)
	if err := parse(fs, args, c.FeatureGates); err != nil {
		return err
	}
	if errs := controllervalidation.ValidateControllerConfiguration(c, nil); len(errs) > 0 {
		return fmt.Errorf("error validating flags: %w", errs.ToAggregate())
	}
	if err := logf.ValidateAndApply(&c.Logging); err != nil {
		return err
	}
	return runController(ctx, c)
}

// enabledControllers is upstream's options.EnabledControllers.
func enabledControllers(o *config.ControllerConfiguration) sets.Set[string] {
	var disabled []string
	enabled := sets.New[string]()
	for _, name := range o.Controllers {
		switch {
		case name == "*":
			enabled.Insert(defaults.DefaultEnabledControllers...)
		case strings.HasPrefix(name, "-"):
			disabled = append(disabled, strings.TrimPrefix(name, "-"))
		default:
			enabled.Insert(name)
		}
	}
	if len(disabled) > 0 && len(enabled) == 0 {
		enabled.Insert(defaults.DefaultEnabledControllers...)
	}
	if utilfeature.DefaultFeatureGate.Enabled(feature.ExperimentalCertificateSigningRequestControllers) {
		enabled.Insert(defaults.ExperimentalCertificateSigningRequestControllers...)
	}
	if utilfeature.DefaultFeatureGate.Enabled(feature.ExperimentalGatewayAPISupport) && o.EnableGatewayAPI {
		enabled.Insert(shimgatewaycontroller.ControllerName)
	}
	enabled.Delete(disabled...)
	if o.Namespace != "" {
		enabled.Delete(defaults.ClusterScopedControllers...)
	}
	return enabled
}

func runController(rootCtx context.Context, opts *config.ControllerConfiguration) error {
	rootCtx, cancel := context.WithCancel(rootCtx)
	defer cancel()
	log := logf.FromContext(rootCtx)
	g, rootCtx := errgroup.WithContext(rootCtx)

	quantity := func(s, what string) (resource.Quantity, error) {
		q, err := resource.ParseQuantity(s)
		if err != nil {
			return q, fmt.Errorf("error parsing %s: %w", what, err)
		}
		return q, nil
	}
	h := opts.ACMEHTTP01Config
	reqCPU, err := quantity(h.SolverResourceRequestCPU, "ACMEHTTP01SolverResourceRequestCPU")
	if err != nil {
		return err
	}
	reqMem, err := quantity(h.SolverResourceRequestMemory, "ACMEHTTP01SolverResourceRequestMemory")
	if err != nil {
		return err
	}
	limCPU, err := quantity(h.SolverResourceLimitsCPU, "ACMEHTTP01SolverResourceLimitsCPU")
	if err != nil {
		return err
	}
	limMem, err := quantity(h.SolverResourceLimitsMemory, "ACMEHTTP01SolverResourceLimitsMemory")
	if err != nil {
		return err
	}
	nameservers := opts.ACMEDNS01Config.RecursiveNameservers
	if len(nameservers) == 0 {
		nameservers = dnsutil.RecursiveNameservers
	}
	factory, err := controller.NewContextFactory(rootCtx, controller.ContextOptions{
		Kubeconfig:         opts.KubeConfig,
		KubernetesAPIQPS:   opts.KubernetesAPIQPS,
		KubernetesAPIBurst: opts.KubernetesAPIBurst,
		APIServerHost:      opts.APIServerHost,
		Namespace:          opts.Namespace,
		ACMEOptions: controller.ACMEOptions{
			HTTP01SolverResourceRequestCPU:    reqCPU,
			HTTP01SolverResourceRequestMemory: reqMem,
			HTTP01SolverResourceLimitsCPU:     limCPU,
			HTTP01SolverResourceLimitsMemory:  limMem,
			ACMEHTTP01SolverRunAsNonRoot:      h.SolverRunAsNonRoot,
			HTTP01SolverImage:                 h.SolverImage,
			HTTP01SolverNameservers:           h.SolverNameservers,
			DNS01Nameservers:                  nameservers,
			DNS01CheckRetryPeriod:             opts.ACMEDNS01Config.CheckRetryPeriod,
			DNS01CheckAuthoritative:           !opts.ACMEDNS01Config.RecursiveNameserversOnly,
		},
		SchedulerOptions: controller.SchedulerOptions{MaxConcurrentChallenges: opts.MaxConcurrentChallenges},
		IssuerOptions: controller.IssuerOptions{
			ClusterIssuerAmbientCredentials: opts.ClusterIssuerAmbientCredentials,
			IssuerAmbientCredentials:        opts.IssuerAmbientCredentials,
			ClusterResourceNamespace:        opts.ClusterResourceNamespace,
		},
		IngressShimOptions: controller.IngressShimOptions{
			DefaultIssuerName:                 opts.IngressShimConfig.DefaultIssuerName,
			DefaultIssuerKind:                 opts.IngressShimConfig.DefaultIssuerKind,
			DefaultIssuerGroup:                opts.IngressShimConfig.DefaultIssuerGroup,
			DefaultAutoCertificateAnnotations: opts.IngressShimConfig.DefaultAutoCertificateAnnotations,
			ExtraCertificateAnnotations:       opts.IngressShimConfig.ExtraCertificateAnnotations,
		},
		CertificateOptions: controller.CertificateOptions{
			EnableOwnerRef:           opts.EnableCertificateOwnerRef,
			CopiedAnnotationPrefixes: opts.CopiedAnnotationPrefixes,
		},
		ConfigOptions: controller.ConfigOptions{EnableGatewayAPI: opts.EnableGatewayAPI},
	})
	if err != nil {
		return err
	}
	ctx, err := factory.Build()
	if err != nil {
		return err
	}
	enabled := enabledControllers(opts)
	log.Info(fmt.Sprintf("enabled controllers: %s", sets.List(enabled)))

	metricsLn, err := server.Listen(rootCtx, "tcp", opts.MetricsListenAddress)
	if err != nil {
		return fmt.Errorf("failed to listen on prometheus address %s: %v", opts.MetricsListenAddress, err)
	}
	metricsServer := ctx.Metrics.NewServer(metricsLn)
	g.Go(func() error {
		<-rootCtx.Done()
		shutdown, done := context.WithTimeout(context.Background(), 5*time.Second)
		defer done()
		return metricsServer.Shutdown(shutdown) //nolint:contextcheck
	})
	g.Go(func() error {
		if err := metricsServer.Serve(metricsLn); err != http.ErrServerClosed {
			return err
		}
		return nil
	})
	healthzLn, err := net.Listen("tcp", opts.HealthzListenAddress)
	if err != nil {
		return fmt.Errorf("failed to listen on healthz address %s: %v", opts.HealthzListenAddress, err)
	}
	healthzServer := healthz.NewServer(opts.LeaderElectionConfig.HealthzTimeout)
	g.Go(func() error { return healthzServer.Start(rootCtx, healthzLn) })

	elected := make(chan struct{})
	if opts.LeaderElectionConfig.Enabled {
		g.Go(func() error {
			lctx, err := factory.Build("leader-election")
			if err != nil {
				return err
			}
			id, err := os.Hostname()
			if err != nil {
				return err
			}
			lock, err := resourcelock.New(resourcelock.LeasesResourceLock, opts.LeaderElectionConfig.Namespace,
				"cert-manager-controller", lctx.Client.CoreV1(), lctx.Client.CoordinationV1(),
				resourcelock.ResourceLockConfig{Identity: id + "-external-cert-manager-controller", EventRecorder: lctx.Recorder})
			if err != nil {
				return fmt.Errorf("error creating leader election lock: %v", err)
			}
			lost := make(chan error, 1)
			le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
				Lock: lock, LeaseDuration: opts.LeaderElectionConfig.LeaseDuration,
				RenewDeadline: opts.LeaderElectionConfig.RenewDeadline, RetryPeriod: opts.LeaderElectionConfig.RetryPeriod,
				ReleaseOnCancel: true, WatchDog: healthzServer.LeaderHealthzAdaptor,
				Callbacks: leaderelection.LeaderCallbacks{
					OnStartedLeading: func(context.Context) { close(elected) },
					OnStoppedLeading: func() {
						select {
						case <-rootCtx.Done():
						default:
							lost <- errors.New("leader election lost")
						}
					},
				},
			})
			if err != nil {
				return err
			}
			le.Run(rootCtx)
			select {
			case err := <-lost:
				return err
			default:
				return nil
			}
		})
	} else {
		close(elected)
	}
	select {
	case <-rootCtx.Done():
		return g.Wait()
	case <-elected:
	}
	for name, fn := range controller.Known() {
		if !enabled.Has(name) {
			continue
		}
		iface, err := fn(factory)
		if err != nil {
			cancel()
			_ = g.Wait()
			return fmt.Errorf("error starting controller %s: %v", name, err)
		}
		g.Go(func() error { return iface.Run(opts.NumberOfConcurrentWorkers, rootCtx) })
	}
	ctx.SharedInformerFactory.Start(rootCtx.Done())
	ctx.KubeSharedInformerFactory.Start(rootCtx.Done())
	ctx.HTTP01ResourceMetadataInformersFactory.Start(rootCtx.Done())
	gateway := utilfeature.DefaultFeatureGate.Enabled(feature.ExperimentalGatewayAPISupport) && opts.EnableGatewayAPI
	if gateway {
		ctx.GWShared.Start(rootCtx.Done())
	}
	err = g.Wait()
	if gateway {
		ctx.GWShared.Shutdown()
	}
	ctx.HTTP01ResourceMetadataInformersFactory.Shutdown()
	ctx.KubeSharedInformerFactory.Shutdown()
	ctx.SharedInformerFactory.Shutdown()
	if err != nil {
		return fmt.Errorf("error starting controller: %v", err)
	}
	return nil
}

// ---- webhook (upstream: cmd/webhook/app; its options live in the main module)

func webhookMain(ctx context.Context, args []string) error {
	c, err := webhookoptions.NewWebhookConfiguration()
	if err != nil {
		return err
	}
	fs := pflag.NewFlagSet("webhook", pflag.ContinueOnError)
	webhookoptions.AddConfigFlags(fs, c)
	if err := parse(fs, args, c.FeatureGates); err != nil {
		return err
	}
	if errs := webhookvalidation.ValidateWebhookConfiguration(c, nil); len(errs) > 0 {
		return fmt.Errorf("error validating flags: %w", errs.ToAggregate())
	}
	if err := logf.ValidateAndApply(&c.Logging); err != nil {
		return err
	}
	srv, err := cmwebhook.NewCertManagerWebhookServer(logf.FromContext(ctx), *c)
	if err != nil {
		return err
	}
	return srv.Run(ctx)
}

// ---- cainjector (upstream: cmd/cainjector/app)

func cainjectorMain(ctx context.Context, args []string) error {
	scheme, _, err := cainjectorscheme.NewSchemeAndCodecs()
	if err != nil {
		return err
	}
	versioned := &cainjectorv1alpha1.CAInjectorConfiguration{}
	scheme.Default(versioned)
	c := &cainjectorconfig.CAInjectorConfiguration{}
	if err := scheme.Convert(versioned, c, nil); err != nil {
		return err
	}
	fs := pflag.NewFlagSet("cainjector", pflag.ContinueOnError)
	fs.StringVar(&c.KubeConfig, "kubeconfig", c.KubeConfig, "kubeconfig path (default: in-cluster)")
	fs.StringVar(&c.Namespace, "namespace", c.Namespace, "only inject into resources of this namespace")
	le := &c.LeaderElectionConfig
	leaderFlags(fs, &le.Enabled, &le.Namespace, &le.LeaseDuration, &le.RenewDeadline, &le.RetryPeriod)
	fs.BoolVar(&c.EnableDataSourceConfig.Certificates, "enable-certificates-data-source", c.EnableDataSourceConfig.Certificates, "")
	i := &c.EnableInjectableConfig
	fs.BoolVar(&i.MutatingWebhookConfigurations, "enable-mutatingwebhookconfigurations-injectable", i.MutatingWebhookConfigurations, "")
	fs.BoolVar(&i.ValidatingWebhookConfigurations, "enable-validatingwebhookconfigurations-injectable", i.ValidatingWebhookConfigurations, "")
	fs.BoolVar(&i.CustomResourceDefinitions, "enable-customresourcedefinitions-injectable", i.CustomResourceDefinitions, "")
	fs.BoolVar(&i.APIServices, "enable-apiservices-injectable", i.APIServices, "")
	fs.StringVar(&c.MetricsListenAddress, "metrics-listen-address", c.MetricsListenAddress, "")
	fs.Var(cliflag.NewMapStringBool(&c.FeatureGates), "feature-gates", "feature gates")
	logf.AddFlags(&c.Logging, fs)
	if err := parse(fs, args, c.FeatureGates); err != nil {
		return err
	}
	if errs := cainjectorvalidation.ValidateCAInjectorConfiguration(c, nil); len(errs) > 0 {
		return fmt.Errorf("error validating flags: %w", errs.ToAggregate())
	}
	if err := logf.ValidateAndApply(&c.Logging); err != nil {
		return err
	}
	if c.KubeConfig != "" {
		// ctrl.GetConfig reads the KUBECONFIG environment variable.
		if err := os.Setenv("KUBECONFIG", c.KubeConfig); err != nil {
			return err
		}
	}
	return runCAInjector(ctx, c)
}

func runCAInjector(ctx context.Context, opts *cainjectorconfig.CAInjectorConfiguration) error {
	log := logf.FromContext(ctx)
	ctrl.SetLogger(log)
	restConfig, err := ctrl.GetConfig()
	if err != nil {
		return err
	}
	restConfig = util.RestConfigWithUserAgent(restConfig, "cainjector")
	var namespaces map[string]cache.Config
	if opts.Namespace != "" {
		namespaces = map[string]cache.Config{opts.Namespace: {}}
	}
	scheme := runtime.NewScheme()
	utilruntime.Must(kscheme.AddToScheme(scheme))
	utilruntime.Must(cmscheme.AddToScheme(scheme))
	utilruntime.Must(apiext.AddToScheme(scheme))
	utilruntime.Must(apireg.AddToScheme(scheme))
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme: scheme,
		Cache:  cache.Options{ReaderFailOnMissingInformer: true, DefaultNamespaces: namespaces},
		// Upstream reads Secrets uncached (memory, and the initial list of every Secret).
		Client:                        client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
		LeaderElection:                opts.LeaderElectionConfig.Enabled,
		LeaderElectionNamespace:       opts.LeaderElectionConfig.Namespace,
		LeaderElectionID:              "cert-manager-cainjector-leader-election",
		LeaderElectionReleaseOnCancel: true,
		LeaderElectionResourceLock:    resourcelock.LeasesResourceLock,
		LeaseDuration:                 &opts.LeaderElectionConfig.LeaseDuration,
		RenewDeadline:                 &opts.LeaderElectionConfig.RenewDeadline,
		RetryPeriod:                   &opts.LeaderElectionConfig.RetryPeriod,
		Metrics:                       metricsserver.Options{BindAddress: opts.MetricsListenAddress},
	})
	if err != nil {
		return fmt.Errorf("error creating manager: %v", err)
	}
	if opts.EnableDataSourceConfig.Certificates {
		direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
		if err != nil {
			return fmt.Errorf("failed to create client: %w", err)
		}
		err = wait.PollUntilContextTimeout(ctx, time.Second, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
			crd := apiext.CustomResourceDefinition{}
			err := direct.Get(ctx, types.NamespacedName{Name: "certificates.cert-manager.io"}, &crd)
			if apierrors.IsNotFound(err) {
				log.Info("cainjector has been configured to watch certificates, but certificates.cert-manager.io CRD not found, retrying with a backoff...")
				return false, nil
			}
			return err == nil, err
		})
		if err != nil {
			return fmt.Errorf("error retrieving certificate.cert-manager.io CRDs: %w", err)
		}
	}
	err = cainjector.RegisterAllInjectors(ctx, mgr, cainjector.SetupOptions{
		Namespace:                    opts.Namespace,
		EnableCertificatesDataSource: opts.EnableDataSourceConfig.Certificates,
		EnabledReconcilersFor: map[string]bool{
			cainjector.MutatingWebhookConfigurationName:   opts.EnableInjectableConfig.MutatingWebhookConfigurations,
			cainjector.ValidatingWebhookConfigurationName: opts.EnableInjectableConfig.ValidatingWebhookConfigurations,
			cainjector.APIServiceName:                     opts.EnableInjectableConfig.APIServices,
			cainjector.CustomResourceDefinitionName:       opts.EnableInjectableConfig.CustomResourceDefinitions,
		},
	})
	if err != nil {
		return fmt.Errorf("failed to register controllers: %w", err)
	}
	return mgr.Start(ctx)
}

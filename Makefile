# The two commands in the README: `make site` and `make test`.
.PHONY: site test static pytest bootstrap testbins bench clean rehearse rehearse-down molecule

site:  ## install the control-node toolchain and deploy the stack
	scripts/bootstrap.sh
	. .venv/bin/activate && ansible-playbook playbooks/site.yml

test:  ## install everything the tests need and run the whole suite
	scripts/test.sh all

rehearse:  ## no cluster? deploy to a local control plane with simulated nodes (pods do not run)
	scripts/rehearse.sh

rehearse-down:  ## stop the control plane `make rehearse` left running
	scripts/rehearse.sh down

molecule:  ## molecule test for every scenario (or SCENARIOS="kserve knative"), each on its own local control plane
	scripts/molecule.sh $(SCENARIOS)

static:
	scripts/test.sh static

pytest:
	scripts/test.sh pytest

bootstrap:
	scripts/bootstrap.sh --test-servers

testbins:
	scripts/build-testbins.sh

clean:
	rm -rf build .venv tests/output .pytest_cache

# Thin targets; the scripts do the work.
.PHONY: test lint bench fmt functions synth

# The README's test command: every test, with moto started for the integration tests.
test:
	./scripts/test.sh

lint:
	./scripts/lint.sh

bench:
	go test -run='^$$' -bench=. -benchmem ./shared/...

fmt:
	gofmt -w .

# Lambda bootstraps for arm64 into .build/functions.
functions:
	./scripts/build-functions.sh

# Offline `cdk synth` with the pinned CLI, cdk-nag and cfn-lint.
synth:
	./scripts/synth.sh

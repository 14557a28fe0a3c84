# Thin targets; the scripts do the work.
.PHONY: test lint bench fmt functions synth local

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

# The whole mail flow on this machine: moto, the handlers, an SES-like SMTP listener on
# 127.0.0.1:2525 and a mail sink on 127.0.0.1:2526 (flags: make local ARGS="--smtp ...").
local:
	go run ./scripts/local $(ARGS)

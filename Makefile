# feeds2sentinel developer targets. Run `make help` for the list.
#
#   make build      build the handler for this machine into bin/handler
#   make test       run every test (race detector, shuffled, uncached)
#   make functions  regenerate functions/<Name>/function.json from
#                   internal/app (commit the result; a test fails when stale)
#   make package    build the deployable app with `go run ./internal/pack`:
#                   a static linux/amd64 handler (CGO_ENABLED=0, -trimpath,
#                   -ldflags "-s -w"), dist/app/ laid out as the Functions host
#                   expects (host.json, one folder per function, the binary at
#                   host.json's defaultExecutablePath "handler") and
#                   dist/app.zip (deterministic; the binary keeps mode 0755).
#                   Deploy dist/app.zip, e.g. with `az functionapp deployment
#                   source config-zip` or one-deploy on Flex Consumption.

GO ?= go

.PHONY: all build test functions package vet lint clean help

all: build

build:
	$(GO) build -o bin/handler ./handler

test:
	$(GO) test -race -shuffle=on -count=1 ./...

functions:
	$(GO) run ./internal/pack -gen

package:
	$(GO) run ./internal/pack

vet:
	$(GO) vet ./...

lint: vet
	staticcheck ./...

clean:
	rm -rf bin dist

help:
	@sed -n 's/^#   //p' Makefile

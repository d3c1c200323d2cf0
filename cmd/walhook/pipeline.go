package main

import (
	"context"
	"fmt"

	"github.com/walhook/walhook/api"
	"github.com/walhook/walhook/cdc"
	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/matcher"
	"github.com/walhook/walhook/pipeline"
	"github.com/walhook/walhook/sender"
)

// pipelineHandler wires walhook proper behind the reader: the webhook store and its API,
// the matcher (loaded before the first event, so no event meets an empty matcher), and the
// sender, which acknowledges transactions through ack.
func pipelineHandler(ctx context.Context, s *service, ack func(event.LSN)) (cdc.Handler, error) {
	m, snd, a := s.components(ack)
	if err := m.Load(ctx); err != nil {
		return nil, fmt.Errorf("load webhooks: %w", err)
	}
	s.mux.Handle("/api/", a.Handler())
	s.runners = append(s.runners, m.Run, snd.Run)
	s.closers = append(s.closers, snd.Close)
	return pipeline.New(m, snd), nil
}

// components builds the matcher, the sender and the API on the service's pool, mapping,
// configuration and metrics. It does no I/O.
func (s *service) components(ack func(event.LSN)) (*matcher.Matcher, *sender.Sender, *api.API) {
	store := matcher.NewStore(s.pool)
	c := s.cfg
	m := matcher.New(matcher.Config{DB: s.pool, Mapping: s.m, Logger: s.log, Registerer: s.registerer,
		MaxBodyBytes: c.MaxBodyBytes, MaxExpandRows: c.MaxExpandRows})
	snd := sender.New(sender.Config{
		Version: version, Logger: s.log, Registerer: s.registerer,
		AllowPrivateTargets: c.AllowPrivateTargets, Webhooks: store,
		Linger: c.DeliveryLinger, RequestTimeout: c.RequestTimeout,
		RetryMinBackoff: c.RetryMinBackoff, RetryMaxBackoff: c.RetryMaxBackoff, RetryWindow: c.RetryWindow,
		Concurrency: c.WebhookConcurrency, DelayHorizon: c.DelayHorizon,
		MemoryLimitBytes: c.MemoryLimitBytes, SpillWait: c.SpillWait,
		QueueWorkers: c.QueueWorkers, QueuePollInterval: c.QueuePollInterval,
		BreakerThreshold: c.BreakerThreshold, BreakerCooldown: c.BreakerCooldown,
		DeliveryLogRetention: c.DeliveryLogRetention, DeadLetterRetention: c.DeadLetterRetention,
		MaxBodyBytes: c.MaxBodyBytes,
	}, m, s.pool, ack)
	a := api.New(api.Config{
		Store: store, Mapping: s.m, Tokens: c.APITokens, AllowPrivateTargets: c.AllowPrivateTargets,
		Deliveries: api.LogOf(snd.Deliveries, snd.DeadLetters, snd.Redeliver), Logger: s.log, Registerer: s.registerer,
	})
	return m, snd, a
}

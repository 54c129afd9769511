package queue

import (
	"context"
	"errors"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
)

// sdkClient adapts *azservicebus.Client to ServiceBusClient.
type sdkClient struct{ c *azservicebus.Client }

func (c sdkClient) NewSender(queue string) (ServiceBusSender, error) {
	s, err := c.c.NewSender(queue, nil)
	if err != nil {
		return nil, err
	}
	return sdkSender{s}, nil
}

func (c sdkClient) NewReceiver(queue string, subQueue azservicebus.SubQueue) (ServiceBusReceiver, error) {
	var opts *azservicebus.ReceiverOptions
	if subQueue != 0 {
		opts = &azservicebus.ReceiverOptions{SubQueue: subQueue}
	}
	return c.c.NewReceiverForQueue(queue, opts)
}

func (c sdkClient) Close(ctx context.Context) error { return c.c.Close(ctx) }

// sdkSender adapts *azservicebus.Sender to ServiceBusSender.
type sdkSender struct{ s *azservicebus.Sender }

func (s sdkSender) NewMessageBatch(ctx context.Context) (ServiceBusBatch, error) {
	b, err := s.s.NewMessageBatch(ctx, nil)
	if err != nil {
		return nil, err
	}
	return sdkBatch{b}, nil
}

func (s sdkSender) SendMessageBatch(ctx context.Context, batch ServiceBusBatch) error {
	b, ok := batch.(sdkBatch)
	if !ok {
		return errors.New("queue: batch not made by this sender")
	}
	return s.s.SendMessageBatch(ctx, b.b, nil)
}

func (s sdkSender) Close(ctx context.Context) error { return s.s.Close(ctx) }

// sdkBatch adapts *azservicebus.MessageBatch to ServiceBusBatch.
type sdkBatch struct{ b *azservicebus.MessageBatch }

func (b sdkBatch) AddMessage(m *azservicebus.Message) error { return b.b.AddMessage(m, nil) }
func (b sdkBatch) NumMessages() int                         { return int(b.b.NumMessages()) }

var (
	_ ServiceBusClient   = sdkClient{}
	_ ServiceBusReceiver = (*azservicebus.Receiver)(nil)
)

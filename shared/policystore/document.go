package policystore

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/moatmail/moat/shared/policy"
)

const (
	docPK       = "POLICY"
	headSK      = "HEAD"
	chunkPrefix = "CHUNK#"

	// ChunkSize is the largest piece of the compressed document one item holds; DynamoDB
	// items are at most 400 KB including attribute names.
	ChunkSize = 350_000
	// MaxChunks keeps a Put within one transaction's 4 MB.
	MaxChunks = 10
	// maxJSON bounds decompression of a stored document.
	maxJSON = 256 << 20

	readAttempts = 3
)

// header is the document's header item.
type header struct {
	Version int    `dynamodbav:"version"`
	Chunks  int    `dynamodbav:"chunks"`
	Enc     string `dynamodbav:"enc"`
	Size    int    `dynamodbav:"size"`
	SHA256  string `dynamodbav:"sha256"`
	Doc     []byte `dynamodbav:"doc,omitempty"`
}

type chunk struct {
	SK      string `dynamodbav:"sk"`
	Version int    `dynamodbav:"version"`
	Data    []byte `dynamodbav:"data"`
}

func docKey(sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: docPK},
		"sk": &types.AttributeValueMemberS{Value: sk},
	}
}

func chunkSK(i int) string { return fmt.Sprintf("%s%04d", chunkPrefix, i) }

// Get returns the stored policy document and its version. Before the first Put it returns
// policy.Default() and version 0.
func (s *Store) Get(ctx context.Context) (*policy.Policy, int, error) {
	p, v, err := s.get(ctx, -1)
	if err != nil {
		return nil, 0, err
	}
	return p, v, nil
}

// get reads the document unless its version is known; then it returns nil and the version
// after reading only the header.
func (s *Store) get(ctx context.Context, known int) (*policy.Policy, int, error) {
	for range readAttempts {
		h, ok, err := s.head(ctx)
		if err != nil {
			return nil, 0, fmt.Errorf("read policy: %w", err)
		}
		if !ok {
			if known == 0 {
				return nil, 0, nil
			}
			return policy.Default(), 0, nil
		}
		if h.Version == known {
			return nil, h.Version, nil
		}
		data := h.Doc
		if h.Chunks > 0 {
			data, ok, err = s.chunks(ctx, h)
			if err != nil {
				return nil, 0, fmt.Errorf("read policy version %d: %w", h.Version, err)
			}
			if !ok {
				continue // a Put replaced the chunks while we read them
			}
		}
		p, err := decode(h, data)
		if err != nil {
			return nil, 0, fmt.Errorf("read policy version %d: %w", h.Version, err)
		}
		return p, h.Version, nil
	}
	return nil, 0, fmt.Errorf("read policy: the document kept changing while it was read: %w", ErrConflict)
}

// head reads the header item; ok is false when no document is stored.
func (s *Store) head(ctx context.Context) (header, bool, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            docKey(headSK),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return header{}, false, err
	}
	if len(out.Item) == 0 {
		return header{}, false, nil
	}
	var h header
	if err := attributevalue.UnmarshalMap(out.Item, &h); err != nil {
		return header{}, false, fmt.Errorf("decode header: %w", err)
	}
	return h, true, nil
}

// chunks reads and joins the chunks of h; ok is false when some chunk is not of h's version.
func (s *Store) chunks(ctx context.Context, h header) ([]byte, bool, error) {
	in := &dynamodb.QueryInput{
		TableName:              aws.String(s.table),
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :prefix)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk":     &types.AttributeValueMemberS{Value: docPK},
			":prefix": &types.AttributeValueMemberS{Value: chunkPrefix},
		},
		ConsistentRead: aws.Bool(true),
	}
	parts := make([][]byte, h.Chunks)
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, false, err
		}
		var page []chunk
		if err := attributevalue.UnmarshalListOfMaps(out.Items, &page); err != nil {
			return nil, false, fmt.Errorf("decode chunk: %w", err)
		}
		for _, c := range page {
			i, err := strconv.Atoi(c.SK[len(chunkPrefix):])
			if err != nil || i < 1 {
				return nil, false, fmt.Errorf("chunk %q: bad number", c.SK)
			}
			if i > h.Chunks {
				continue // left over from a larger version; the next Put deletes it
			}
			if c.Version != h.Version {
				return nil, false, nil
			}
			parts[i-1] = c.Data
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	for _, p := range parts {
		if p == nil {
			return nil, false, nil
		}
	}
	return bytes.Join(parts, nil), true, nil
}

// decode checks and decompresses a stored document.
func decode(h header, data []byte) (*policy.Policy, error) {
	if h.Enc != "gzip" {
		return nil, fmt.Errorf("unknown encoding %q", h.Enc)
	}
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != h.SHA256 {
		return nil, errors.New("checksum mismatch: the stored document is damaged")
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	js, err := io.ReadAll(io.LimitReader(zr, maxJSON))
	if err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	p := new(policy.Policy)
	if err := json.Unmarshal(js, p); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return p, nil
}

// Put validates p and stores it as the version after expectVersion, the version the caller
// read (0 before the first Put). It returns the new version, or ErrConflict when the stored
// version is no longer expectVersion. Header and chunks are written in one transaction, and
// chunks left from a larger previous version are deleted in it.
func (s *Store) Put(ctx context.Context, p *policy.Policy, expectVersion int) (int, error) {
	if p == nil {
		return 0, errors.New("put policy: no document")
	}
	if err := p.Validate(); err != nil {
		return 0, fmt.Errorf("put policy: %w", err)
	}
	js, err := json.Marshal(p)
	if err != nil {
		return 0, fmt.Errorf("put policy: %w", err)
	}
	data, err := compress(js)
	if err != nil {
		return 0, fmt.Errorf("put policy: %w", err)
	}
	n := (len(data) + ChunkSize - 1) / ChunkSize
	if n > s.maxChunks {
		return 0, fmt.Errorf("put policy: the document is too large: %d bytes of JSON compress to %d bytes, over the %d bytes one transaction can store; move large lists to the directory or end users' lists", len(js), len(data), s.maxChunks*ChunkSize)
	}

	cur, ok, err := s.head(ctx)
	if err != nil {
		return 0, fmt.Errorf("put policy: %w", err)
	}
	if cur.Version != expectVersion {
		return 0, fmt.Errorf("put policy: version %d is stored, not %d: %w", cur.Version, expectVersion, ErrConflict)
	}
	next := expectVersion + 1
	sum := sha256.Sum256(data)
	h := header{Version: next, Enc: "gzip", Size: len(js), SHA256: hex.EncodeToString(sum[:])}
	var items []types.TransactWriteItem
	if n > 1 {
		h.Chunks = n
		for i := range n {
			part := data[i*ChunkSize : min((i+1)*ChunkSize, len(data))]
			it, err := attributevalue.MarshalMap(chunk{SK: chunkSK(i + 1), Version: next, Data: part})
			if err != nil {
				return 0, fmt.Errorf("put policy: %w", err)
			}
			it["pk"] = &types.AttributeValueMemberS{Value: docPK}
			items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: aws.String(s.table), Item: it}})
		}
	} else {
		h.Doc = data
	}
	for i := h.Chunks + 1; i <= cur.Chunks; i++ {
		items = append(items, types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String(s.table), Key: docKey(chunkSK(i))}})
	}
	hi, err := attributevalue.MarshalMap(h)
	if err != nil {
		return 0, fmt.Errorf("put policy: %w", err)
	}
	hi["pk"] = &types.AttributeValueMemberS{Value: docPK}
	hi["sk"] = &types.AttributeValueMemberS{Value: headSK}
	put := &types.Put{TableName: aws.String(s.table), Item: hi}
	if ok {
		put.ConditionExpression = aws.String("#version = :v")
		put.ExpressionAttributeNames = map[string]string{"#version": "version"}
		put.ExpressionAttributeValues = map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.Itoa(expectVersion)}}
	} else {
		put.ConditionExpression = aws.String("attribute_not_exists(pk)")
	}
	// The header goes first: a cancellation reason at index 0 is its condition.
	items = append([]types.TransactWriteItem{{Put: put}}, items...)
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if lostRace(err) {
		return 0, fmt.Errorf("put policy: version %d was replaced meanwhile: %w", expectVersion, ErrConflict)
	}
	if err != nil {
		return 0, fmt.Errorf("put policy: %w", err)
	}
	return next, nil
}

func compress(js []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(js); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// lostRace reports whether a transaction was cancelled because the header's condition failed
// or another transaction was writing the same items.
func lostRace(err error) bool {
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return false
	}
	for i, r := range tce.CancellationReasons {
		switch code := aws.ToString(r.Code); {
		case code == "TransactionConflict":
			return true
		case i == 0 && code == "ConditionalCheckFailed":
			return true
		}
	}
	return false
}

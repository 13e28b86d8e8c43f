//! Throughput and memory measurement of ingestion (filled in next).

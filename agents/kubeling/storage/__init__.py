"""Object storage in etcd: the gateway client, the object store, and the watch fan-out."""

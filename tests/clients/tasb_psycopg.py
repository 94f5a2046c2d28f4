"""numpy arrays in and out of tasbvec (float32) and tasbhalf (float16) with plain psycopg 3:
parameters, results and COPY, text and binary. Needs nothing beyond psycopg and numpy.
The README's "Client drivers" section shows this file; tests/clients/test_psycopg.py tests it."""

import numpy as np
import psycopg
from psycopg.adapt import Dumper, Loader
from psycopg.pq import Format
from psycopg.types import TypeInfo


def register_tasb(conn):
    """Once per connection (a pool's `configure` callback), after CREATE EXTENSION tasb."""
    for name, dtype in (("tasbvec", np.dtype(np.float32)), ("tasbhalf", np.dtype(np.float16))):
        info = TypeInfo.fetch(conn, name)
        if info is None:
            raise psycopg.ProgrammingError(f"type {name} not found: CREATE EXTENSION tasb")
        info.register(conn)  # so that Copy.set_types() knows the name
        attrs = {"oid": info.oid, "dtype": dtype, "wire": dtype.newbyteorder(">")}
        for fmt in (Format.TEXT, Format.BINARY):  # binary last: %s sends binary
            dumper = type(f"{name}_dumper", (TasbDumper,), {**attrs, "format": fmt})
            loader = type(f"{name}_loader", (TasbLoader,), {**attrs, "format": fmt})
            # numpy arrays go as tasbvec (a tasbhalf column casts them on assignment); the
            # tasbhalf dumper serves COPY after set_types([..., "tasbhalf"]).
            conn.adapters.register_dumper(np.ndarray if name == "tasbvec" else None, dumper)
            conn.adapters.register_loader(info.oid, loader)


class TasbDumper(Dumper):
    def dump(self, obj):
        a = np.asarray(obj, dtype=self.dtype)
        if a.ndim != 1:
            raise psycopg.DataError(f"a vector is a 1-d array, not {a.ndim}-d")
        if self.format == Format.BINARY:  # int16 dimensions, int16 0, big-endian elements
            return np.array([a.size, 0], ">u2").tobytes() + a.astype(self.wire).tobytes()
        return ("[" + ",".join(map(repr, a.tolist())) + "]").encode()


class TasbLoader(Loader):
    def load(self, data):
        if self.format == Format.BINARY:
            return np.frombuffer(data, self.wire, offset=4).astype(self.dtype)
        return np.array(bytes(data)[1:-1].split(b","), np.float32).astype(self.dtype)

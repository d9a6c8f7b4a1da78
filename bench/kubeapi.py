"""A minimal client of the Kubernetes API for the bench/ scripts: the kubeconfig's server and
client certificate, JSON requests over one HTTPS connection, and watch streams. Standard library
only, so the benchmarks need nothing installed and no kubectl process start-up is counted."""
import base64, http.client, json, re, ssl, tempfile, time


class Api:
    def __init__(self, kubeconfig):
        text = open(kubeconfig).read()

        def field(name):
            m = re.search(r"^\s*%s:\s*(\S+)\s*$" % re.escape(name), text, re.M)
            return m.group(1) if m else None

        files = {}
        for key in ("certificate-authority-data", "client-certificate-data", "client-key-data"):
            f = tempfile.NamedTemporaryFile(delete=False)
            f.write(base64.b64decode(field(key)))
            f.close()
            files[key] = f.name
        self.context = ssl.create_default_context(cafile=files["certificate-authority-data"])
        self.context.load_cert_chain(files["client-certificate-data"], files["client-key-data"])
        host, port = field("server").replace("https://", "").rsplit(":", 1)
        self.host, self.port = host, int(port)

    def connect(self, timeout=60):
        return http.client.HTTPSConnection(self.host, self.port, context=self.context,
                                           timeout=timeout)

    @staticmethod
    def try_request(connection, method, path, body=None, content_type="application/json"):
        """Sends one request; returns its status and decoded answer."""
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        connection.request(method, path, body=json.dumps(body) if body is not None else None,
                           headers=headers)
        response = connection.getresponse()
        data = response.read()
        return response.status, (json.loads(data) if data else None)

    @staticmethod
    def request(connection, method, path, body=None, content_type="application/json"):
        """Sends one request; returns the decoded answer, or exits with the error."""
        status, answer = Api.try_request(connection, method, path, body, content_type)
        if status >= 300:
            raise SystemExit(f"{method} {path}: {status} {str(answer)[:300]}")
        return answer

    @staticmethod
    def create(connection, path, body, attempts=20):
        """POSTs `body`, retrying while the server answers 503 or 429 as kubectl would (a
        leader change); a 409 after a retry means an earlier attempt was applied."""
        for attempt in range(attempts):
            status, answer = Api.try_request(connection, "POST", path, body)
            if status < 300 or (status == 409 and attempt > 0):
                return answer
            if status not in (429, 503):
                break
            time.sleep(0.2)
        raise SystemExit(f"POST {path}: {status} {str(answer)[:300]}")

    def watch(self, path, timeout=3600):
        """Opens a watch (`path` with its query) and returns the response to read lines from."""
        connection = self.connect(timeout=timeout)
        connection.request("GET", path, headers={"Accept": "application/json"})
        response = connection.getresponse()
        if response.status >= 300:
            raise SystemExit(f"watch {path}: {response.status} {response.read()[:300]!r}")
        return response

// An Express API with the defaults real apps ship: X-Powered-By, CORS reflecting any origin
// with credentials, no security headers, a session cookie without flags, Express's own error
// pages outside production (stack traces), a login with no rate limit, a health check that
// asks nothing.
const express = require('express');
const cors = require('cors');

const app = express();
app.use(cors({ origin: true, credentials: true }));
app.use(express.json());

app.get('/', (req, res) => {
  res.cookie('connect.sid', 's%3Aabcdef0123456789abcdef.sig');
  res.send('<html><body><h1>Shop</h1></body></html>');
});

app.post('/api/login', (req, res) => {
  if (req.body.password !== 'correct horse') {
    return res.status(401).json({ error: 'invalid credentials' });
  }
  res.json({ ok: true });
});

app.get('/api/report/:id', (req, res) => {
  const id = Number.parseInt(req.params.id, 10);
  if (Number.isNaN(id)) throw new Error(`bad report id ${req.params.id}`);
  res.json({ report: id });
});

app.get('/health', (req, res) => res.send('ok'));

app.listen(Number(process.env.PORT), '127.0.0.1');

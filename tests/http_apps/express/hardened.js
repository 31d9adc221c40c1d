// The same API done carefully: helmet's headers (X-Powered-By gone), CORS for one origin,
// a rate-limited login with standard RateLimit headers, flagged cookies, JSON errors that
// leak nothing, a health check that reports its database.
const express = require('express');
const cors = require('cors');
const helmet = require('helmet');
const { rateLimit } = require('express-rate-limit');

const app = express();
app.use(helmet());
app.use(cors({ origin: 'https://shop.example', credentials: true }));
app.use(express.json());

const loginLimit = rateLimit({ windowMs: 60_000, limit: 5, standardHeaders: 'draft-7', legacyHeaders: false });

app.get('/', (req, res) => {
  res.cookie('connect.sid', 's%3Aabcdef0123456789abcdef.sig', { secure: true, httpOnly: true, sameSite: 'lax' });
  res.send('<html><body><h1>Shop</h1></body></html>');
});

app.post('/api/login', loginLimit, (req, res) => {
  if (!req.body || req.body.password !== 'correct horse') {
    return res.status(401).json({ error: 'invalid credentials' });
  }
  res.json({ ok: true });
});

app.get('/api/report/:id', (req, res) => {
  const id = Number.parseInt(req.params.id, 10);
  if (Number.isNaN(id)) return res.status(400).json({ error: 'bad request' });
  res.json({ report: id });
});

app.get('/healthz', (req, res) => res.json({ status: 'ok', database: 'ok' }));

app.use((req, res) => res.status(404).json({ error: 'not found' }));
// four arguments: Express's error handler signature
app.use((err, req, res, next) => {
  const status = err.status || err.statusCode || 500;
  res.status(status).json({ error: status < 500 ? 'bad request' : 'internal' });
});

app.listen(Number(process.env.PORT), '127.0.0.1');

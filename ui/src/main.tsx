// Entry point: mounts the app.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { getToken } from './api/client';
import { preloadHome } from './pages/Home';
import './styles.css';

// Opening the pipeline with a token: its requests start now, beside the token check (whoami), not after it.
if (window.location.pathname === '/' && getToken()) preloadHome();

const root = document.getElementById('root');
if (root) {
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
}

// Entry point: mounts the app.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { getToken } from './api/client';
import { preloadDeployment } from './pages/DeploymentDetail';
import { preloadHome } from './pages/Home';
import './styles.css';

// Opening the pipeline or a deployment with a token: its first requests start now, beside the token check
// (whoami), not after it.
const deployment = /^\/deployments\/([0-9a-f-]{36})$/.exec(window.location.pathname)?.[1];
if (window.location.pathname === '/' && getToken()) preloadHome();
else if (deployment && getToken()) preloadDeployment(deployment);

const root = document.getElementById('root');
if (root) {
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
}
